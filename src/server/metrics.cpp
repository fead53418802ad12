#include "server/metrics.h"

#include <chrono>
#include <cmath>
#include <cstdio>

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

std::string render_prometheus(const ServerCounters& c, const runtime::SchedulerStats& s,
                              const BackendMetrics& backend, const std::string& model_id,
                              int n_devices) {
  std::string out;
  out += "# HELP ll_info The served model and ring size.\n# TYPE ll_info gauge\n";
  out += "ll_info{model=\"" + label(model_id) + "\",devices=\"" + std::to_string(n_devices) +
         "\"} 1\n";
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
  metric(out, "ll_time_to_first_token_seconds_sum", "counter",
         "Time from admission to the first token, summed over requests.", s.ttft_sum_s);
  metric(out, "ll_time_to_first_token_seconds_count", "counter", "Requests that got a first token.",
         static_cast<double>(s.ttft_count));
  metric(out, "ll_time_to_first_token_seconds_avg", "gauge", "Mean time to first token.",
         s.ttft_count ? s.ttft_sum_s / s.ttft_count : 0.0);
  metric(out, "ll_queue_depth", "gauge", "Requests waiting for a KV slot.",
         static_cast<double>(s.queue_depth));
  metric(out, "ll_active_sequences", "gauge", "Sequences holding a KV slot.",
         static_cast<double>(s.active));
  metric(out, "ll_forward_passes_total", "counter", "Forward passes (waves) submitted.",
         static_cast<double>(s.waves));
  if (!backend.devices.empty()) {
    out += "# HELP ll_device_stage_ms Mean time per forward pass on each device.\n";
    out += "# TYPE ll_device_stage_ms gauge\n";
    for (size_t i = 0; i < backend.devices.size(); ++i) {
      const auto& d = backend.devices[i];
      if (std::isnan(d.stage_ms)) continue;
      out += "ll_device_stage_ms{device=\"" + std::to_string(i) + "\",name=\"" + label(d.name) +
             "\"} " + std::to_string(d.stage_ms) + "\n";
    }
    out += "# HELP ll_device_steps_total Forward passes run on each device.\n";
    out += "# TYPE ll_device_steps_total counter\n";
    for (size_t i = 0; i < backend.devices.size(); ++i) {
      out += "ll_device_steps_total{device=\"" + std::to_string(i) + "\",name=\"" +
             label(backend.devices[i].name) + "\"} " + std::to_string(backend.devices[i].steps) +
             "\n";
    }
  }
  // Networked rings only (NaN elsewhere): stage seconds and traffic per device.
  const std::pair<const char*, double DeviceMetrics::*> per_device[] = {
      {"ll_device_busy_seconds_total", &DeviceMetrics::busy_s},
      {"ll_device_bytes_sent_total", &DeviceMetrics::bytes_sent},
      {"ll_device_bytes_received_total", &DeviceMetrics::bytes_received}};
  for (const auto& [series, field] : per_device) {
    bool header = false;
    for (size_t i = 0; i < backend.devices.size(); ++i) {
      const auto& d = backend.devices[i];
      if (std::isnan(d.*field)) continue;
      if (!header) out += std::string("# TYPE ") + series + " counter\n";
      header = true;
      out += std::string(series) + "{device=\"" + std::to_string(i) + "\",name=\"" +
             label(d.name) + "\"} " + std::to_string(d.*field) + "\n";
    }
  }
  if (!backend.links.empty()) {
    out += "# HELP ll_link_bytes_total Bytes sent over each link of the ring.\n";
    out += "# TYPE ll_link_bytes_total counter\n";
    for (const auto& l : backend.links) {
      out += "ll_link_bytes_total{from=\"" + label(l.from) + "\",to=\"" + label(l.to) + "\"} " +
             std::to_string(l.bytes) + "\n";
    }
  }
  return out;
}

}  // namespace ll::server
