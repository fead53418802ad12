#include "server/http_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "server/http_internal.h"
#include "server/openai_response.h"
#include "server/web_assets.h"

namespace ll::server {

using nlohmann::json;

void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(dump_json(j), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  send_json(res, e.http_status, e.to_json());
}

namespace {

using Request = httplib::Request;
using Response = httplib::Response;
using Reader = httplib::ContentReader;

// Path -> the one method it answers; anything else on a known path is a 405.
const std::vector<std::pair<std::string, std::string>>& known_routes() {
  static const std::vector<std::pair<std::string, std::string>> r = {
      {"/v1/completions", "POST"},
      {"/v1/chat/completions", "POST"},
      {"/completions", "POST"},
      {"/chat/completions", "POST"},
      {"/v1/models", "GET"},
      {"/models", "GET"},
      {"/health", "GET"},
      {"/metrics", "GET"},
      {"/v1/cluster/status", "GET"},
      {"/v1/cluster/plan.svg", "GET"},
  };
  return r;
}

const std::string* allowed_method(const std::string& path) {
  for (const auto& [p, m] : known_routes()) {
    if (p == path) return &m;
  }
  if (path.rfind("/v1/models/", 0) == 0 || find_web_asset(path)) {
    static const std::string get = "GET";
    return &get;
  }
  return nullptr;
}

// Constant time in the key's length, so response timing does not reveal matching prefixes.
bool same_key(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ (i < b.size() ? b[i] : 0);
  return diff == 0;
}

std::optional<ApiError> check_auth(const ServerContext& ctx, const Request& req) {
  if (ctx.options.api_key.empty()) return std::nullopt;
  const std::string h = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (h.empty()) {
    return ApiError{401, "You didn't provide an API key (Authorization: Bearer KEY).",
                    "invalid_request_error", "", "invalid_api_key"};
  }
  if (h.rfind(prefix, 0) != 0 || !same_key(h.substr(prefix.size()), ctx.options.api_key)) {
    return ApiError{401, "Incorrect API key provided.", "invalid_request_error", "",
                    "invalid_api_key"};
  }
  return std::nullopt;
}

// The body is read here rather than by httplib so the size limit also holds for chunked
// uploads. A body left unread would be parsed as the next request on a kept-alive connection;
// httplib 0.11 cannot close a connection from a handler, so those answers carry
// "Connection: close" and well-behaved clients close it.
std::optional<ApiError> read_body(const ServerContext& ctx, const Request& req, Response& res,
                                  const Reader& reader, std::string& body) {
  const size_t limit = ctx.options.max_body_bytes;
  const bool chunked =
      req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
  if (!chunked && !req.has_header("Content-Length")) {
    res.set_header("Connection", "close");
    return ApiError{411, "A Content-Length header (or a chunked body) is required.",
                    "invalid_request_error", "", ""};
  }
  bool too_big = false;
  auto take = [&](const char* data, size_t n) {
    if (body.size() + n > limit) {
      too_big = true;
      return false;
    }
    body.append(data, n);
    return true;
  };
  // A multipart body is read (and dropped) so the connection stays in sync; it is not JSON.
  const bool multipart = req.is_multipart_form_data();
  const bool ok = multipart ? reader([](const httplib::MultipartFormData&) { return true; }, take)
                            : reader(take);
  if (too_big || res.status == 413) {
    res.set_header("Connection", "close");
    return ApiError{
        413, "The request body is larger than the limit of " + std::to_string(limit) + " bytes.",
        "invalid_request_error", "", ""};
  }
  if (!ok) {
    res.set_header("Connection", "close");
    return bad_request("The request body could not be read.");
  }
  // The body is parsed as JSON whatever its Content-Type (curl -d sends form-urlencoded), as
  // llama-server does; a body that is not JSON gets the parser's 400.
  if (multipart) {
    return bad_request("The request body must be a JSON object, not multipart/form-data.");
  }
  return std::nullopt;
}

ApiError route_error(const Request& req) {
  const std::string* allowed = allowed_method(req.path);
  if (allowed && *allowed != req.method) {
    return ApiError{405, req.method + " is not allowed on " + req.path + "; use " + *allowed + ".",
                    "invalid_request_error", "", "method_not_allowed"};
  }
  return ApiError{404, "Unknown request URL: " + req.method + " " + req.path + ".",
                  "invalid_request_error", "", "unknown_url"};
}

json model_json(const ServerContext& ctx) {
  return json{{"id", ctx.backend.model_id},
              {"object", "model"},
              {"created", 0},
              {"owned_by", "lingualinked"}};
}

// A long-poll's query (GET /health and /v1/cluster/status ?wait_for=W&timeout=S): the
// condition to wait for, and how long.
struct LongPoll {
  std::string what;  // one of the route's conditions; empty: answer at once
  double timeout_s = 0;
};
constexpr double kMaxLongPollS = 60;  // bounds how long a thread of the pool is held
constexpr double kDefaultLongPollS = 30;

std::string quoted_param(const std::string& v) {
  return "'" + (v.size() > 40 ? v.substr(0, 40) + "..." : v) + "'";
}

// `allowed` lists the route's conditions for the error message ("ok, degraded or whole").
std::optional<ApiError> parse_long_poll(const Request& req, const std::vector<std::string>& conds,
                                        const std::string& allowed, LongPoll* w) {
  if (req.has_param("wait_for")) {
    w->what = req.get_param_value("wait_for");
    if (std::find(conds.begin(), conds.end(), w->what) == conds.end()) {
      return bad_request("'wait_for' must be " + allowed + ", not " + quoted_param(w->what) + ".",
                         "wait_for");
    }
    w->timeout_s = kDefaultLongPollS;
  }
  if (!req.has_param("timeout")) return std::nullopt;
  if (w->what.empty())
    return bad_request("'timeout' needs 'wait_for' (what to wait for).", "timeout");
  const std::string t = req.get_param_value("timeout");
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || std::isspace(static_cast<unsigned char>(t[0])) || *end != '\0' ||
      !(v >= 0 && v <= kMaxLongPollS)) {
    return bad_request(
        "'timeout' must be a number of seconds from 0 to 60, not " + quoted_param(t) + ".",
        "timeout");
  }
  w->timeout_s = v;
  return std::nullopt;
}

// Each long-poll holds a thread of the pool: at most half of them wait, so requests still run.
// Holds a place while it lives; ok() is false (answer 429) when none was free.
class LongPollSlot {
 public:
  explicit LongPollSlot(ServerContext& c)
      : n_(c.long_polls), limit_(std::max(4, c.options.http_threads) / 2) {
    ok_ = n_.fetch_add(1) < limit_;
  }
  ~LongPollSlot() { n_.fetch_sub(1); }
  bool ok() const { return ok_; }
  ApiError error() const {
    return ApiError{429,
                    "Too many long-polls (wait_for) in progress (at most " +
                        std::to_string(limit_) + "); retry later.",
                    "rate_limit_error", "wait_for", "too_many_waits"};
  }

 private:
  std::atomic<int>& n_;
  int limit_;
  bool ok_ = false;
};

bool health_satisfies(const std::string& what, const runtime::RingHealth& h) {
  const bool serving = h.state == runtime::RingState::kServing;
  if (what == "ok") return serving;
  if (what == "degraded") return !serving;  // any state that answers 503
  for (const auto& d : h.devices) {
    if (d.state == "lost") return false;
  }
  return serving;  // "whole": serving with every device back
}

void send_health(Response& res, const runtime::RingHealth& h) {
  json j = {{"status", runtime::ring_state_name(h.state)}};
  if (!h.devices.empty()) {
    j["devices"] = json::array();
    for (const auto& d : h.devices)
      j["devices"].push_back({{"name", d.name}, {"address", d.address}, {"state", d.state}});
  }
  if (!h.message.empty()) j["message"] = h.message;
  send_json(res, h.state == runtime::RingState::kServing ? 200 : 503, j);
}

}  // namespace

struct HttpServer::Impl {
  Impl(Backend& b, ServerOptions o) : ctx(b, std::move(o)) {}
  void install_routes();

  ServerContext ctx;
  httplib::Server svr;
  std::atomic<int> listen_fd{-1};
  std::thread thread;
  int port = -1;
  bool stopped = false;
};

void HttpServer::Impl::install_routes() {
  ServerContext* c = &ctx;
  auto generation = [c](Endpoint ep) {
    return [c, ep](const Request& req, Response& res, const Reader& reader) {
      std::string body;
      if (auto e = read_body(*c, req, res, reader, body)) return send_error(res, *e);
      if (auto e = check_auth(*c, req)) return send_error(res, *e);
      handle_generation(*c, ep, body, res);
    };
  };
  for (const char* prefix : {"/v1", ""}) {
    const std::string p = prefix;
    svr.Post(p + "/completions", generation(Endpoint::kCompletions));
    svr.Post(p + "/chat/completions", generation(Endpoint::kChat));
    svr.Get(p + "/models", [c](const Request& req, Response& res) {
      if (auto e = check_auth(*c, req)) return send_error(res, *e);
      send_json(res, 200, json{{"object", "list"}, {"data", json::array({model_json(*c)})}});
    });
  }
  svr.Get("/v1/models/(.+)", [c](const Request& req, Response& res) {
    if (auto e = check_auth(*c, req)) return send_error(res, *e);
    if (req.matches[1] != c->backend.model_id) {
      return send_error(res,
                        ApiError{404, "The model '" + req.matches[1].str() + "' does not exist.",
                                 "invalid_request_error", "model", "model_not_found"});
    }
    send_json(res, 200, model_json(*c));
  });
  // Health stays open without the key so load balancers and scripts can probe it.
  svr.Get("/health", [c](const Request& req, Response& res) {
    LongPoll w;
    if (auto e = parse_long_poll(req, {"ok", "degraded", "whole"}, "ok, degraded or whole", &w))
      return send_error(res, *e);
    const runtime::Ring& ring = *c->backend.ring;
    if (w.what.empty() || w.timeout_s == 0) return send_health(res, ring.health());
    LongPollSlot slot(*c);
    if (!slot.ok()) return send_error(res, slot.error());
    // A stopping server ends the wait at once (stop() wakes it) with the health as it is.
    const auto h = ring.wait_health(
        [&](const runtime::RingHealth& h) {
          return c->stopping.load() || health_satisfies(w.what, h);
        },
        w.timeout_s);
    send_health(res, h);
  });
  svr.Get("/metrics", [c](const Request& req, Response& res) {
    if (auto e = check_auth(*c, req)) return send_error(res, *e);
    BackendMetrics bm;
    if (c->backend.metrics) bm = c->backend.metrics();
    res.set_content(render_prometheus(*c->counters, c->backend.scheduler->stats(), bm, c->backend),
                    "text/plain; version=0.0.4");
  });

  svr.Get("/v1/cluster/status", [c](const Request& req, Response& res) {
    if (auto e = check_auth(*c, req)) return send_error(res, *e);
    LongPoll w;
    if (auto e = parse_long_poll(req, {"idle"}, "idle", &w)) return send_error(res, *e);
    uint64_t after = 0;
    if (req.has_param("events_after")) {
      try {
        after = std::stoull(req.get_param_value("events_after"));
      } catch (const std::exception&) {
        return send_error(
            res, bad_request("'events_after' must be an event id (an integer).", "events_after"));
      }
    }
    if (!w.what.empty() && w.timeout_s > 0) {
      // "idle": no request active or queued, as after a stopped stream's slot was freed. A
      // stopping server ends the wait at once (stop() wakes it).
      LongPollSlot slot(*c);
      if (!slot.ok()) return send_error(res, slot.error());
      c->backend.scheduler->wait_idle_for(w.timeout_s, [c] { return c->stopping.load(); });
    }
    BackendMetrics bm;
    if (c->backend.metrics) bm = c->backend.metrics();
    const runtime::SchedulerStats stats = c->backend.scheduler->stats();
    const auto util = c->utilization.update(bm);
    const double uptime =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - c->started).count();
    res.set_header("Cache-Control", "no-store");
    send_json(res, 200,
              cluster_status_json({c->backend, *c->counters, stats, bm, util, uptime, after}));
  });
  svr.Get("/v1/cluster/plan.svg", [c](const Request& req, Response& res) {
    if (auto e = check_auth(*c, req)) return send_error(res, *e);
    if (c->backend.cluster.plan_svg.empty()) {
      return send_error(res, ApiError{404,
                                      "This ring was not placed by the planner (" +
                                          c->backend.description + "), so there is no plan.",
                                      "invalid_request_error", "", "no_plan"});
    }
    res.set_header("Cache-Control", "no-store");
    res.set_content(c->backend.cluster.plan_svg, "image/svg+xml");
  });
  // The web page: static, built into the binary, no key needed (it holds no data; what it
  // shows comes from the API with the key the user types in).
  for (const WebAsset& a : web_assets()) {
    auto serve_asset = [&a](const Request&, Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_content(a.body.data(), a.body.size(), std::string(a.content_type));
    };
    svr.Get(std::string(a.path), serve_asset);
    if (a.path == "/index.html") svr.Get("/", serve_asset);
  }

  // Everything else: 404 or 405, registered last so the routes above match first.
  auto reject = [](const Request& req, Response& res) {
    ApiError e = route_error(req);
    if (e.http_status == 405) res.set_header("Allow", *allowed_method(req.path));
    send_error(res, e);
  };
  // A body is read (within the limit) only to keep the connection in sync; no body is fine.
  auto reject_with_body = [c, reject](const Request& req, Response& res, const Reader& reader) {
    std::string body;
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
      auto e = read_body(*c, req, res, reader, body);
      if (e && e->http_status == 413) return send_error(res, *e);
    }
    reject(req, res);
  };
  svr.Get(".*", reject);
  svr.Options(".*", reject);
  svr.Post(".*", reject_with_body);
  svr.Put(".*", reject_with_body);
  svr.Patch(".*", reject_with_body);
  svr.Delete(".*", reject_with_body);

  // httplib's own rejections (malformed requests, oversized bodies) get an OpenAI error body;
  // responses that already have one are left alone.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([](const Request& req, Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e{res.status, "", res.status >= 500 ? "server_error" : "invalid_request_error", "",
               ""};
    if (res.status == 404 || res.status == 405) {
      e = route_error(req);
    } else if (res.status == 413) {
      e.message = "The request body is too large.";
    } else {
      e.message = res.status == 400
                      ? "Malformed HTTP request."
                      : "The request failed with HTTP status " + std::to_string(res.status) + ".";
    }
    send_error(res, e);
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, ApiError{500, "Internal error: " + what, "server_error", "", ""});
  });
  svr.set_logger([c](const Request& req, const Response& res) {
    c->counters->http_requests++;
    if (res.status >= 400 && res.status < 500) c->counters->http_4xx++;
    if (res.status >= 500) c->counters->http_5xx++;
    if (c->options.log_requests) {
      std::fprintf(stderr, "%s %s %s -> %d\n", req.remote_addr.c_str(), req.method.c_str(),
                   req.path.c_str(), res.status);
    }
  });
}

HttpServer::HttpServer(Backend& backend, ServerOptions options)
    : impl_(std::make_unique<Impl>(backend, std::move(options))) {}

HttpServer::~HttpServer() {
  stop();
}

Result<int> HttpServer::start() {
  Impl& m = *impl_;
  if (m.thread.joinable()) return m.port;
  const int threads = std::max(4, m.ctx.options.http_threads);
  m.svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  m.svr.set_payload_max_length(m.ctx.options.max_body_bytes);
  // Only called for the listening socket. SO_REUSEADDR but not httplib's default SO_REUSEPORT,
  // so a second server on the same port fails instead of silently sharing it.
  m.svr.set_socket_options([&m](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    m.listen_fd = sock;
  });
  m.install_routes();
  const std::string& host = m.ctx.options.host;
  if (m.ctx.options.port == 0) {
    m.port = m.svr.bind_to_any_port(host);
  } else {
    m.port = m.svr.bind_to_port(host, m.ctx.options.port) ? m.ctx.options.port : -1;
  }
  if (m.port <= 0) {
    return unavailable("cannot listen on " + host + ":" + std::to_string(m.ctx.options.port) +
                       " (address in use or not local?)");
  }
  // Debian's httplib listens with a backlog of 5: a burst of clients would see dropped
  // connections. listen() again on the bound socket raises it.
  if (m.listen_fd >= 0) ::listen(m.listen_fd, SOMAXCONN);
  m.thread = std::thread([&m] { m.svr.listen_after_bind(); });
  // httplib's stop() does nothing until the loop runs, and the loop would then never end: a
  // stop() right after start() must find it running.
  for (int i = 0; i < 5000 && !m.svr.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return m.port;
}

void HttpServer::stop() {
  Impl& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  m.ctx.stopping = true;
  if (m.ctx.backend.ring) m.ctx.backend.ring->health_changed();
  if (m.ctx.backend.scheduler) m.ctx.backend.scheduler->wake_idle_waiters();
  m.ctx.live->abandon_all();
  m.svr.stop();
  if (m.thread.joinable()) m.thread.join();
}

int HttpServer::port() const {
  return impl_->port;
}

}  // namespace ll::server
