// lingualinked keygen: makes the cluster key pair every node of one cluster shares.
#include <cstdio>
#include <memory>

#include "command.h"
#include "net/cluster_key.h"

namespace ll::tools {
namespace {

struct KeygenOpts {
  std::string out = "cluster.key";
  bool force = false;
};

int run_keygen(const KeygenOpts& o) {
  auto key = net::generate_cluster_key();
  if (!key.is_ok()) {
    std::fprintf(stderr, "error: %s\n", key.status().to_string().c_str());
    return 1;
  }
  Status st = net::save_cluster_key(o.out, *key, o.force);
  if (!st.is_ok()) {
    std::fprintf(stderr, "error: %s\n", st.to_string().c_str());
    return 1;
  }
  std::fprintf(stderr, "wrote %s (mode 0600); copy it to every node of the cluster\n",
               o.out.c_str());
  std::printf("%s\n", key->public_z85.c_str());
  return 0;
}

const bool registered = register_command(
    "keygen", "Create a cluster key pair (CurveZMQ) for encrypted, authenticated links",
    [](CLI::App& sub) {
      auto o = std::make_shared<KeygenOpts>();
      sub.add_option("-o,--output", o->out, "Key file to write (default: cluster.key)");
      sub.add_flag("--force", o->force, "Replace an existing key file");
      return [o]() -> int { return run_keygen(*o); };
    });

}  // namespace
}  // namespace ll::tools
