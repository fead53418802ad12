// GET /v1/cluster/status: one JSON object with the ring (devices, layers, memory against
// budget, stage time, utilization, traffic), the links, throughput and the events after a given
// id. Built from what the backend knows (ClusterInfo, BackendMetrics, scheduler stats), so a
// ring that measures more only has to fill BackendMetrics. Format: docs/server.md.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "graph/graph.h"
#include "graph/segment.h"
#include "server/backend.h"
#include "server/metrics.h"

namespace ll::server {

// Utilization needs two samples of each device's busy seconds; this keeps the last one.
// Thread-safe; samples closer than kMinWindow reuse the previous figure so several viewers
// polling at once do not shrink the window to nothing.
class UtilizationTracker {
 public:
  static constexpr double kMinWindowS = 0.5;
  // busy_s per device name -> fraction of wall time busy since the previous sample (NaN first).
  std::map<std::string, double> update(const BackendMetrics& m);

 private:
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_t_{};
  std::map<std::string, double> last_busy_, last_util_;
};

struct StatusInputs {
  const Backend& backend;
  const ServerCounters& counters;
  const runtime::SchedulerStats& sched;
  const BackendMetrics& metrics;
  const std::map<std::string, double>& utilization;
  double uptime_s = 0;
  uint64_t events_after = 0;
};

nlohmann::json cluster_status_json(const StatusInputs& in);

// ClusterInfo::devices for a plan (its "plan.devices", ring order; device d > 0 is
// workers[d - 1]) or for an in-process ring split by `per_device` (named device0, device1, ...).
std::vector<ClusterDevice> devices_from_plan(const nlohmann::json& plan_json,
                                             const std::vector<std::string>& workers);
std::vector<ClusterDevice> devices_from_segments(const graph::Graph& g,
                                                 const graph::Segmentation& per_device);

}  // namespace ll::server
