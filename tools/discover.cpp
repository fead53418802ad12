#include "discover.h"

#include <cstdio>

#include "net/discovery.h"

namespace ll::tools {

Result<std::vector<std::string>> discover_workers(double seconds, const net::ClusterKey& key,
                                                  bool insecure) {
  const std::string keyfp = insecure ? "insecure" : net::key_fingerprint(key);
  LL_ASSIGN_OR_RETURN(auto found, net::browse(seconds));
  std::vector<std::string> addrs;
  for (const auto& s : found) {
    auto fp = s.txt.find("keyfp");
    const bool match = fp != s.txt.end() && fp->second == keyfp;
    std::fprintf(stderr, "%s worker %s at %s%s\n", match ? "discovered" : "ignored",
                 s.instance.c_str(), s.address().c_str(), match ? "" : " (another cluster key)");
    if (match) addrs.push_back(s.address());
  }
  if (addrs.empty()) {
    return unavailable("--discover found no worker with this cluster key within " +
                       std::to_string(seconds) + " s (" + std::to_string(found.size()) +
                       " other advertised)");
  }
  return addrs;
}

}  // namespace ll::tools
