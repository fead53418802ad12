#include "server/metrics.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

namespace ll::server {

namespace {

int64_t now_sec() {
  using namespace std::chrono;
  return duration_cast<seconds>(steady_clock::now().time_since_epoch()).count();
}

// Label values may hold worker addresses; escape what the text format requires.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void metric(std::string& out, const char* name, const char* type, const char* help, double v) {
  char num[64];
  std::snprintf(num, sizeof(num), "%.17g", v);
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
         name + " " + num + "\n";
}

}  // namespace

void RateWindow::add(uint64_t n) {
  const int64_t s = now_sec();
  std::lock_guard<std::mutex> lock(mu_);
  const int i = static_cast<int>(s % kSeconds);
  if (bucket_sec_[i] != s) {
    bucket_sec_[i] = s;
    bucket_n_[i] = 0;
  }
  bucket_n_[i] += n;
}

double RateWindow::rate() const {
  // Whole seconds only: the current, partial second would make the rate jitter.
  const int64_t s = now_sec();
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t sum = 0;
  for (int i = 0; i < kSeconds; ++i) {
    if (bucket_sec_[i] < s && bucket_sec_[i] >= s - (kSeconds - 1)) sum += bucket_n_[i];
  }
  return static_cast<double>(sum) / (kSeconds - 1);
}

namespace {

// One metric family: HELP and TYPE once, then its samples, all in one group as the text format
// requires (flush() appends it); nothing when it has no samples.
class Family {
 public:
  Family(const char* name, const char* type, const char* help)
      : name_(name), type_(type), help_(help) {}
  void sample(const std::string& labels, double v) {
    if (!std::isfinite(v)) return;  // unknown figures are left out, never exported as NaN
    char num[64];
    std::snprintf(num, sizeof(num), "%.17g", v);
    body_ += std::string(name_) + (labels.empty() ? "" : "{" + labels + "}") + " " + num + "\n";
  }
  void flush(std::string& out) {
    if (body_.empty()) return;
    out += std::string("# HELP ") + name_ + " " + help_ + "\n# TYPE " + name_ + " " + type_ + "\n" +
           body_;
    body_.clear();
  }

 private:
  const char *name_, *type_, *help_;
  std::string body_;
};

std::string kv(const char* k, const std::string& v) {
  return std::string(k) + "=\"" + label(v) + "\"";
}

const nlohmann::json* plan_device(const ClusterInfo& ci, size_t i) {
  if (!ci.plan.is_object() || !ci.plan.contains("plan")) return nullptr;
  const nlohmann::json& p = ci.plan["plan"];
  if (!p.contains("devices") || !p["devices"].is_array() || i >= p["devices"].size())
    return nullptr;
  return &p["devices"][i];
}

double plan_number(const nlohmann::json* d, const char* key, double scale = 1) {
  if (!d || !d->contains(key) || !(*d)[key].is_number()) return std::nan("");
  return (*d)[key].get<double>() * scale;
}

// Recoveries from lost devices (docs/failover.md): a counter, and their durations as a histogram.
void render_failovers(std::string& out, const runtime::RingHealth& h) {
  Family state("ll_ring_serving", "gauge", "1 while the ring can serve, 0 while degraded or down.");
  state.sample("", h.state == runtime::RingState::kServing ? 1 : 0);
  state.flush(out);
  Family total("ll_failovers_total", "counter", "Recoveries from a lost device.");
  total.sample("", static_cast<double>(h.failovers));
  total.flush(out);
  Family moves("ll_rebalance_moves_total", "counter",
               "Moves of work between devices by the load balancer.");
  moves.sample("", static_cast<double>(h.moves));
  moves.flush(out);
  // A histogram's series are <name>_bucket (cumulative, by upper bound le), _sum and _count.
  out +=
      "# HELP ll_failover_seconds Time from noticing a lost device to serving again.\n"
      "# TYPE ll_failover_seconds histogram\n";
  double sum = 0;
  for (double s : h.failover_s) sum += s;
  char line[128];
  for (const char* le : {"0.25", "0.5", "1", "2", "4", "8", "16", "+Inf"}) {
    const double bound = std::string(le) == "+Inf" ? INFINITY : std::stod(le);
    size_t n = 0;
    for (double s : h.failover_s) n += s <= bound;
    std::snprintf(line, sizeof line, "ll_failover_seconds_bucket{le=\"%s\"} %zu\n", le, n);
    out += line;
  }
  std::snprintf(line, sizeof line, "ll_failover_seconds_sum %.17g\nll_failover_seconds_count %zu\n",
                sum, h.failover_s.size());
  out += line;
}

// Per-device series, labelled by the device's name (as in /v1/cluster/status).
void render_devices(std::string& out, const Backend& b, const BackendMetrics& m,
                    const runtime::RingHealth& health) {
  const ClusterInfo& ci = b.cluster;
  Family info("ll_device_info", "gauge",
              "The ring's devices in ring order (index 0 is the head), with their layers.");
  Family up("ll_device_up", "gauge", "1 while the device is part of the ring, else 0.");
  Family mem("ll_device_planned_memory_bytes", "gauge",
             "Memory the plan gives each device (weights, KV cache, buffers).");
  Family budget("ll_device_memory_budget_bytes", "gauge", "Each device's memory budget.");
  Family planned("ll_device_planned_stage_seconds", "gauge",
                 "The plan's predicted compute time per decode step on each device.");
  for (size_t i = 0; i < ci.devices.size(); ++i) {
    const ClusterDevice& d = ci.devices[i];
    const std::string dev = kv("device", d.name);
    info.sample(dev + "," + kv("index", std::to_string(i)) + "," + kv("address", d.address) + "," +
                    kv("role", i == 0 ? "head" : "worker") + "," +
                    kv("first_layer", std::to_string(d.first_layer)) + "," +
                    kv("last_layer", std::to_string(d.last_layer)),
                1);
    bool is_up = true;
    for (const DeviceMetrics& dm : m.devices) {
      if (dm.name == d.name) is_up = dm.up;
    }
    for (const runtime::DeviceHealth& dh : health.devices) {
      if (dh.name == d.name) is_up = dh.state == "up";
    }
    up.sample(dev, is_up ? 1 : 0);
    const nlohmann::json* pd = plan_device(ci, i);
    mem.sample(dev, plan_number(pd, "mem_bytes"));
    budget.sample(dev, plan_number(pd, "budget_bytes"));
    planned.sample(dev, plan_number(pd, "compute_ms", 1e-3));
  }
  Family stage("ll_device_stage_seconds", "gauge",
               "Measured mean time per forward pass on each device.");
  Family busy("ll_device_busy_seconds_total", "counter",
              "Seconds each device spent in forward passes.");
  Family steps("ll_device_forward_passes_total", "counter", "Forward passes run on each device.");
  Family sent("ll_device_sent_bytes_total", "counter", "Bytes each device sent.");
  Family received("ll_device_received_bytes_total", "counter", "Bytes each device received.");
  for (const DeviceMetrics& dm : m.devices) {
    const std::string dev = kv("device", dm.name);
    stage.sample(dev, dm.stage_ms * 1e-3);
    busy.sample(dev, dm.busy_s);
    steps.sample(dev, static_cast<double>(dm.steps));
    sent.sample(dev, dm.bytes_sent);
    received.sample(dev, dm.bytes_received);
  }
  for (Family* f : {&info, &up, &mem, &budget, &planned, &stage, &busy, &steps, &sent, &received})
    f->flush(out);
}

void render_links(std::string& out, const Backend& b, const BackendMetrics& m) {
  Family planned("ll_link_planned_latency_seconds", "gauge",
                 "The plan's one-way time per message on each link of the ring.");
  const nlohmann::json& plan = b.cluster.plan;
  if (plan.is_object() && plan.contains("plan") && plan["plan"].contains("links")) {
    for (const nlohmann::json& l : plan["plan"]["links"]) {
      if (!l.contains("hop_ms") || !l["hop_ms"].is_number()) continue;
      planned.sample(kv("from", l.value("from_name", "")) + "," + kv("to", l.value("to_name", "")),
                     l["hop_ms"].get<double>() * 1e-3);
    }
  }
  Family bytes("ll_link_sent_bytes_total", "counter", "Bytes sent over each link.");
  Family latency("ll_link_latency_seconds", "gauge", "Measured one-way latency of each link.");
  for (const LinkMetrics& l : m.links) {
    const std::string labels = kv("from", l.from) + "," + kv("to", l.to);
    bytes.sample(labels, static_cast<double>(l.bytes));
    latency.sample(labels, l.latency_ms * 1e-3);
  }
  for (Family* f : {&planned, &bytes, &latency}) f->flush(out);
}

}  // namespace

std::string render_prometheus(const ServerCounters& c, const runtime::SchedulerStats& s,
                              const BackendMetrics& backend_metrics, const Backend& b) {
  std::string out;
  Family info("ll_info", "gauge", "The served model and ring size; always 1.");
  info.sample(kv("model", b.model_id) + "," + kv("devices", std::to_string(b.live_devices())), 1);
  info.flush(out);
  metric(out, "ll_http_requests_total", "counter", "HTTP requests answered.", c.http_requests);
  metric(out, "ll_http_client_errors_total", "counter", "HTTP responses with a 4xx status.",
         c.http_4xx);
  metric(out, "ll_http_server_errors_total", "counter", "HTTP responses with a 5xx status.",
         c.http_5xx);
  metric(out, "ll_requests_total", "counter", "Generation requests accepted.", c.started);
  metric(out, "ll_requests_completed_total", "counter",
         "Generation requests that ended normally (stop or length).", c.completed);
  metric(out, "ll_requests_failed_total", "counter", "Generation requests that failed.", c.failed);
  metric(out, "ll_requests_cancelled_total", "counter",
         "Generation requests cancelled because the client went away or the server stopped.",
         c.cancelled);
  metric(out, "ll_prompt_tokens_total", "counter", "Prompt tokens processed.", c.prompt_tokens);
  metric(out, "ll_tokens_generated_total", "counter", "Tokens generated.", s.tokens_generated);
  metric(out, "ll_tokens_per_second", "gauge", "Tokens generated per second, last 10 s.",
         c.token_rate.rate());
  out +=
      "# HELP ll_time_to_first_token_seconds Time from admission to the first token.\n"
      "# TYPE ll_time_to_first_token_seconds summary\n";
  char num[96];
  std::snprintf(num, sizeof(num), "ll_time_to_first_token_seconds_sum %.17g\n", s.ttft_sum_s);
  out += num;
  out += "ll_time_to_first_token_seconds_count " + std::to_string(s.ttft_count) + "\n";
  metric(out, "ll_queue_depth", "gauge", "Requests waiting for a KV slot.",
         static_cast<double>(s.queue_depth));
  metric(out, "ll_active_sequences", "gauge", "Sequences holding a KV slot.",
         static_cast<double>(s.active));
  metric(out, "ll_forward_passes_total", "counter", "Forward passes (waves) submitted.",
         static_cast<double>(s.waves));
  const runtime::RingHealth health = b.ring->health();
  render_failovers(out, health);
  render_devices(out, b, backend_metrics, health);
  render_links(out, b, backend_metrics);
  return out;
}

}  // namespace ll::server
