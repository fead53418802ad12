// Local cluster specs: emulated devices (threads, speed, memory, links) for `cluster` and
// `serve --device-spec` (docs/cluster.md). Built-in specs need no file.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/local_cluster.h"
#include "runtime/throttle.h"

namespace ll::tools {

struct EmulatedDevice {
  std::string name;
  int threads = 1;
  double speed = 1.0;  // every op takes 1/speed as long as on this machine (runtime/throttle.h)
  std::vector<runtime::SpeedStep> speed_schedule;  // from the first forward pass on
  std::string mem_budget;     // "512MiB", "40%" (of the model file), "" = unlimited
  double latency_ms = 0;      // one-way median, added to every outgoing message
  double latency_p95_ms = 0;  // 95th percentile (jitter); 0 = latency_ms, no jitter
  double bandwidth_bps = 0;   // bytes/s, shaped in our transport; 0 = unlimited
  double loss = 0;            // share of messages stalled as by a lost TCP segment
};

struct ClusterSpec {
  EmulatedDevice head;
  std::vector<EmulatedDevice> workers;
};

// name_or_path: "phones3" (built in) or a JSON file (docs/cluster.md). Errors name the field.
Result<ClusterSpec> load_cluster_spec(const std::string& name_or_path);
Result<ClusterSpec> parse_cluster_spec(const std::string& text, const std::string& what);
ClusterSpec uniform_spec(int n_workers, int threads);
// What a run holds in all: the model file plus the KV caches (F32 K and V of every layer) of
// n_seqs sequences of n_ctx positions. A spec's percent budgets are shares of it, so "no phone
// holds the model alone" stays true when many sequences are in flight.
Result<double> run_bytes(const std::string& model_path, int n_ctx, int n_seqs);
// Resolves "40%" against the run's size (run_bytes); "" -> 0 (no budget).
Result<double> resolve_budget(const std::string& s, double model_bytes);
// Worker flags for the speed and link emulation of `d` (also used for the head's options).
std::vector<std::string> emulation_flags(const EmulatedDevice& d);

// The worker processes that emulate spec.workers (runtime::LocalCluster::start starts them).
// Each keeps its weights and profile in its own cache dir under cache_root.
Result<runtime::LocalClusterOptions> local_cluster_options(const ClusterSpec& spec,
                                                           double model_bytes, bool insecure,
                                                           const std::string& cache_root);

}  // namespace ll::tools
