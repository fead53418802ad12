// Server-side counters and their Prometheus text rendering. The scheduler's own statistics
// count a stop-string hit as a cancellation (the server stops the sequence early), so the
// request outcomes exported here are the server's.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "runtime/scheduler.h"
#include "server/backend.h"

namespace ll::server {

// Events per second over the last few whole seconds.
class RateWindow {
 public:
  void add(uint64_t n);
  double rate() const;

 private:
  static constexpr int kSeconds = 10;
  mutable std::mutex mu_;
  int64_t bucket_sec_[kSeconds] = {};
  uint64_t bucket_n_[kSeconds] = {};
};

struct ServerCounters {
  std::atomic<uint64_t> http_requests{0}, http_4xx{0}, http_5xx{0};
  // Generation requests by outcome; started = completed + failed + cancelled + in progress.
  std::atomic<uint64_t> started{0}, completed{0}, failed{0}, cancelled{0};
  std::atomic<uint64_t> completion_tokens{0}, prompt_tokens{0};
  RateWindow token_rate;
};

// Prometheus text format 0.0.4, base units (seconds, bytes), per-device series labelled by
// the device's name; figures nobody measured are left out. Names: docs/server.md "Metrics".
std::string render_prometheus(const ServerCounters& c, const runtime::SchedulerStats& s,
                              const BackendMetrics& backend_metrics, const Backend& backend);

}  // namespace ll::server
