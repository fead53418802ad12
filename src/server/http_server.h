// The OpenAI-compatible HTTP front end (cpp-httplib): /v1/completions, /v1/chat/completions,
// /v1/models, /health and /metrics over one Backend. See docs/server.md.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/status.h"
#include "server/backend.h"

namespace ll::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;      // 0: any free port (start() returns it)
  std::string api_key;  // "": no authentication
  size_t max_body_bytes = 1 << 20;
  int http_threads = 32;      // each streaming client holds one while it streams
  bool log_requests = false;  // one line per request on stderr
};

class HttpServer {
 public:
  HttpServer(Backend& backend, ServerOptions options);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and serves on a background thread; returns the bound port.
  Result<int> start();
  // Refuses new generations, abandons open ones (they end at their next token) and waits for
  // the handler threads. Idempotent.
  void stop();
  int port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ll::server
