// Local worker processes for emulated devices (cluster, serve --n-devices): started with an
// ephemeral key in a temporary directory, throttled with cgroups, and all stopped by
// stop_local_workers() or on SIGINT/SIGTERM.
#pragma once

#include <string>
#include <vector>

#include "cluster_spec.h"
#include "core/status.h"
#include "net/cluster_key.h"

namespace ll::tools {

struct LocalWorkers {
  std::vector<std::string> addresses;
  net::ClusterKey key;
  std::string key_file;  // empty when insecure
};

// Starts spec.workers as child processes; the head device's CPU share is applied to this process.
Result<LocalWorkers> start_local_workers(const ClusterSpec& spec, double model_bytes, bool insecure,
                                         const std::string& cache_root);
void stop_local_workers();

}  // namespace ll::tools
