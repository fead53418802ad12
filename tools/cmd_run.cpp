// lingualinked run: the head. Connects to workers, profiles, plans, deploys and generates.
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "command.h"
#include "common.h"
#include "discover.h"
#include "net/cluster_key.h"
#include "run_head.h"

namespace ll::tools {
namespace {

struct Opts {
  HeadFlags head;
  std::string workers;
  double discover_s = 0;  // > 0: find workers with mDNS for this long
};

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
    auto found = discover_workers(o.discover_s, key, o.head.insecure);
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
