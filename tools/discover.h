// --discover for `run` and `serve`: the workers advertised on the LAN with a cluster key's
// fingerprint (net/discovery.h, docs/cluster.md "LAN discovery").
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "net/cluster_key.h"

namespace ll::tools {

// Addresses (tcp://IP:PORT) in name order; prints one line per worker found, used or ignored.
// insecure: matches workers advertised without a key.
Result<std::vector<std::string>> discover_workers(double seconds, const net::ClusterKey& key,
                                                  bool insecure);

}  // namespace ll::tools
