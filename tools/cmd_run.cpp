// lingualinked run: the head. Connects to workers, profiles, plans, deploys and generates.
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "command.h"
#include "common.h"
#include "net/cluster_key.h"
#include "net/discovery.h"
#include "run_head.h"

namespace ll::tools {
namespace {

struct Opts {
  HeadFlags head;
  std::string workers;
  double discover_s = 0;  // > 0: find workers with mDNS for this long
};

// Workers advertised on the LAN with this cluster key's fingerprint, in name order.
Result<std::vector<std::string>> discover(double seconds, const std::string& keyfp) {
  LL_ASSIGN_OR_RETURN(auto found, net::browse(seconds));
  std::vector<std::string> addrs;
  for (const auto& s : found) {
    auto fp = s.txt.find("keyfp");
    const bool match = fp != s.txt.end() && fp->second == keyfp;
    std::fprintf(stderr, "%s worker %s at %s%s\n", match ? "discovered" : "ignored",
                 s.instance.c_str(), s.address().c_str(), match ? "" : " (another cluster key)");
    if (match) addrs.push_back(s.address());
  }
  if (addrs.empty())
    return unavailable("--discover found no worker with this cluster key within " +
                       std::to_string(seconds) + " s (" + std::to_string(found.size()) +
                       " other advertised)");
  return addrs;
}

int run(const Opts& o) {
  std::vector<std::string> addrs;
  std::stringstream ss(o.workers);
  std::string a;
  while (std::getline(ss, a, ',')) {
    if (a.empty()) continue;
    addrs.push_back(a.find("://") == std::string::npos ? "tcp://" + a : a);
  }
  if (addrs.empty() && o.discover_s <= 0)
    return fail(invalid_argument("--workers needs at least one HOST:PORT (or use --discover)"));
  net::ClusterKey key;
  if (!o.head.insecure) {
    if (o.head.key_file.empty())
      return fail(invalid_argument(
          "a cluster key is required: --key FILE (see `lingualinked keygen`), or --insecure"));
    auto k = net::load_cluster_key(o.head.key_file);
    if (!k.is_ok()) return fail(k.status());
    key = *k;
  }
  if (o.discover_s > 0) {
    auto found = discover(o.discover_s, o.head.insecure ? "insecure" : net::key_fingerprint(key));
    if (!found.is_ok()) return fail(found.status());
    addrs.insert(addrs.end(), found->begin(), found->end());
  }
  return run_head(o.head, addrs, key);
}

const bool registered =
    register_command("run", "Run a model across worker devices (the head)", [](CLI::App& sub) {
      auto o = std::make_shared<Opts>();
      sub.add_option("--workers", o->workers, "Worker addresses HOST:PORT,...");
      sub.add_flag("--discover{3}", o->discover_s,
                   "Use the workers advertised on the LAN with this cluster key "
                   "(--discover=SECONDS to wait longer than 3 s)");
      sub.add_option("--key", o->head.key_file, "Cluster key file (lingualinked keygen)");
      o->head.add(sub);
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace ll::tools
