// Helpers for the server tests: a synthetic model, an in-process server on a free port, and
// small HTTP/SSE clients (httplib, plus a raw socket for requests httplib would not send).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <unistd.h>

#include "model/synth.h"
#include "server/backend.h"
#include "server/http_server.h"
#include "temp_dir.h"

namespace ll::server::testing {

using nlohmann::json;

// Written once per test process (ctest runs each test in its own) into its temp dir, which is
// removed at exit; tiny preset, Q8_0 like the runtime tests.
inline const std::string& synth_model_path() {
  static const std::string path = [] {
    const std::string p = ll::testing::temp_path("server_synth.gguf");
    model::SynthSpec spec;
    spec.type = DType::kQ8_0;
    EXPECT_TRUE(model::write_synth(spec, p).is_ok());
    return p;
  }();
  return path;
}

inline std::string synth_model_id() {
  return std::filesystem::path(synth_model_path()).stem().string();
}

struct TestServer {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<HttpServer> http;
  int port = 0;

  ~TestServer() {
    if (http) http->stop();
    http.reset();
    backend.reset();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    return c;
  }
};

inline std::unique_ptr<TestServer> serve(std::unique_ptr<Backend> backend, ServerOptions so = {}) {
  auto s = std::make_unique<TestServer>();
  s->backend = std::move(backend);
  so.port = 0;
  s->http = std::make_unique<HttpServer>(*s->backend, so);
  auto port = s->http->start();
  EXPECT_TRUE(port.is_ok()) << port.status().to_string();
  s->port = port.is_ok() ? *port : 0;
  return s;
}

// The synthetic model on `cluster` in-process devices with `max_seqs` KV slots of 512 tokens.
inline BackendOptions synth_backend_options(int cluster, int max_seqs) {
  BackendOptions o;
  o.model_path = synth_model_path();
  o.cluster = cluster;
  o.max_seqs = max_seqs;
  o.ctx = 512;
  return o;
}

inline std::unique_ptr<TestServer> serve_synth(int cluster, int max_seqs, ServerOptions so = {}) {
  auto b = make_backend(synth_backend_options(cluster, max_seqs));
  EXPECT_TRUE(b.is_ok()) << b.status().to_string();
  return serve(std::move(b).value(), so);
}

struct Reply {
  int status = 0;  // 0: no HTTP response
  std::string body;
  json j;  // parsed body, null if not JSON
};

inline Reply to_reply(const httplib::Result& r) {
  Reply out;
  if (!r) {
    out.body = "no response: " + httplib::to_string(r.error());
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  out.j = json::parse(r->body, nullptr, false);
  if (out.j.is_discarded()) out.j = json();
  return out;
}

inline Reply post(const TestServer& s, const std::string& path, const std::string& body,
                  const std::string& type = "application/json", const httplib::Headers& h = {}) {
  auto c = s.client();
  return to_reply(c.Post(path.c_str(), h, body, type.c_str()));
}

inline Reply post(const TestServer& s, const std::string& path, const json& body) {
  return post(s, path, body.dump());
}

// Bytes in, the first response out ("" if none within 5 s).
std::string raw_http(int port, const std::string& request);
int raw_status(const std::string& response);  // status from the status line, 0 if none
json raw_json_body(const std::string& response);

struct SseResult {
  std::vector<json> events;  // parsed "data:" payloads, [DONE] excluded
  bool done = false;         // saw data: [DONE] as the last event
  bool well_formed = true;   // every event was "data: <json>" or a comment
};
SseResult parse_sse(const std::string& body);

// Concatenated text of a stream: completions' choices[0].text or chat's delta.content.
std::string sse_text(const SseResult& r, std::string* finish_reason = nullptr);

}  // namespace ll::server::testing
