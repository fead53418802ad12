// Shared by the HTTP server's translation units; not part of the module's interface (it pulls
// in httplib).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <httplib.h>

#include "server/api_error.h"
#include "server/backend.h"
#include "server/cluster_status.h"
#include "server/generation.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/openai_request.h"

namespace ll::server {

struct ServerContext {
  ServerContext(Backend& b, ServerOptions o) : backend(b), options(std::move(o)) {}
  Backend& backend;
  const ServerOptions options;
  // Shared with generations, whose scheduler callbacks can outlive the server.
  std::shared_ptr<ServerCounters> counters = std::make_shared<ServerCounters>();
  std::shared_ptr<LiveGenerations> live = std::make_shared<LiveGenerations>();
  std::atomic<bool> stopping{false};
  std::atomic<int> long_polls{0};  // requests with ?wait_for= in progress
  UtilizationTracker utilization;
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

void send_json(httplib::Response& res, int status, const nlohmann::json& j);
void send_error(httplib::Response& res, const ApiError& e);

// POST /v1/completions and /v1/chat/completions once the body has been read and authorised.
void handle_generation(ServerContext& ctx, Endpoint endpoint, const std::string& body,
                       httplib::Response& res);

}  // namespace ll::server
