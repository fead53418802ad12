// The worker daemon: answers profiling and link probes, receives a deployment (its coarse
// segment, the map, its peers) and the weights it lacks (content-addressed, cached on disk),
// then executes its segment for every forward pass and sends each output straight to the
// devices that consume it. Malformed messages are logged, answered with ERROR and dropped.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "net/endpoint.h"
#include "runtime/throttle.h"

namespace ll::runtime {

struct WorkerOptions {
  std::string listen = "tcp://127.0.0.1:5555";
  std::string name;        // node name; default "worker@<listen>"
  std::string model_path;  // optional own copy of the model
  double mem_budget_bytes = 0;
  int threads = 1;
  std::string cache_dir = ".lingualinked-cache";
  net::ClusterKey key;
  bool insecure = false;
  double added_latency_s = 0;
  double bandwidth_bytes_per_s = 0;
  double latency_p95_s = 0;  // jitter and loss of the emulated link (net/traffic_shaper.h)
  double loss_rate = 0;
  // Emulated device speed (runtime/throttle.h): 1 = this machine's speed.
  double speed = 1;
  std::vector<SpeedStep> speed_schedule;
};

// Runs until stop becomes true or a SHUTDOWN arrives. bound_address receives the address
// actually bound (useful with port 0).
Status run_worker(const WorkerOptions& options, const std::atomic<bool>& stop,
                  std::string* bound_address = nullptr,
                  const std::function<void(const std::string&)>& on_listening = nullptr);

// Hash of a whole file, cached beside the cache dir by (path, size, mtime).
Result<std::string> file_content_hash(const std::string& path, const std::string& cache_dir);

}  // namespace ll::runtime
