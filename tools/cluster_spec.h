// Local cluster specs: emulated devices (threads, memory, CPU share, link bandwidth and
// latency) for `cluster`. Built-in specs need no file.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/local_cluster.h"

namespace ll::tools {

struct EmulatedDevice {
  std::string name;
  int threads = 1;
  double cpu_share = 1.0;    // fraction of one core (cgroup cpu quota)
  std::string mem_budget;    // "512MiB", "40%" (of the model file), "" = unlimited
  double latency_ms = 0;     // one-way, added in our transport
  double bandwidth_bps = 0;  // bytes/s, shaped in our transport; 0 = unlimited
};

struct ClusterSpec {
  EmulatedDevice head;
  std::vector<EmulatedDevice> workers;
};

// name_or_path: "phones3" (built in) or a JSON file (docs/cluster.md).
Result<ClusterSpec> load_cluster_spec(const std::string& name_or_path);
ClusterSpec uniform_spec(int n_workers, int threads);
// Resolves "40%" against the model size; "" -> 0 (no budget).
Result<double> resolve_budget(const std::string& s, double model_bytes);

// The worker processes that emulate spec.workers (runtime::LocalCluster::start starts them).
// Each keeps its weights and profile in its own cache dir under cache_root.
Result<runtime::LocalClusterOptions> local_cluster_options(const ClusterSpec& spec,
                                                           double model_bytes, bool insecure,
                                                           const std::string& cache_root);

}  // namespace ll::tools
