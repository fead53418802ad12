// lingualinked cluster: N emulated devices on this machine (workers as child processes, the
// head in this process), the embedded default for demos and tests. Everything started here is
// stopped on exit or Ctrl-C.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include "cluster_spec.h"
#include "command.h"
#include "common.h"
#include "run_head.h"
#include "runtime/local_cluster.h"

namespace ll::tools {
namespace {

struct Opts {
  HeadFlags head;
  int n_devices = 3;     // in all, head included (as `serve --n-devices`)
  int old_devices = -1;  // the old --devices N meant N workers besides the head
  std::string spec;
};

int run(Opts o) {
  if (o.old_devices != -1) {
    return fail(invalid_argument(
        "--devices was renamed: --devices " + std::to_string(o.old_devices) +
        " (workers besides the head) is now --n-devices " + std::to_string(o.old_devices + 1) +
        " (devices in all, head included, as in `serve`)"));
  }
  ClusterSpec spec;
  if (!o.spec.empty()) {
    auto s = load_cluster_spec(o.spec);
    if (!s.is_ok()) return fail(s.status());
    spec = *s;
  } else {
    if (o.n_devices < 2 || o.n_devices > 33)
      return fail(invalid_argument("--n-devices must be 2..33 (the head and 1..32 workers)"));
    spec = uniform_spec(o.n_devices - 1, o.head.threads);
  }
  // The context run_head will choose (it knows the prompt's length; 64 tokens are assumed).
  const int n_ctx = o.head.ctx > 0 ? o.head.ctx : std::max(256, o.head.n_predict + 64);
  auto rb = run_bytes(o.head.model, n_ctx, std::max(o.head.max_seqs, o.head.streams));
  if (!rb.is_ok()) return fail(rb.status());
  const double model_bytes = *rb;
  auto hb = resolve_budget(spec.head.mem_budget, model_bytes);
  if (!hb.is_ok()) return fail(hb.status());
  auto lo = local_cluster_options(spec, model_bytes, o.head.insecure, o.head.cache_dir);
  if (!lo.is_ok()) return fail(lo.status());
  // Before any thread starts (see StopSignals). Ctrl-C stops the workers and exits; the head's
  // own state needs no cleanup. `mu` keeps the cluster alive while the callback uses it.
  std::mutex mu;
  runtime::LocalCluster* live = nullptr;
  runtime::StopSignals signals([&](int sig) {
    std::lock_guard<std::mutex> lk(mu);
    std::fprintf(stderr, "signal %d: stopping the local cluster\n", sig);
    if (live) live->stop(2);
    _exit(128 + sig);
  });
  auto lc = runtime::LocalCluster::start(*lo);
  if (!lc.is_ok()) return fail(lc.status());
  {
    std::lock_guard<std::mutex> lk(mu);
    live = lc->get();
  }
  if (*hb > 0) o.head.mem_budget = std::to_string(static_cast<long long>(*hb));
  o.head.threads = spec.head.threads;
  o.head.head_latency_s = spec.head.latency_ms / 1000.0;
  o.head.head_latency_p95_s = spec.head.latency_p95_ms / 1000.0;
  o.head.head_bandwidth = spec.head.bandwidth_bps;
  o.head.head_loss = spec.head.loss;
  o.head.head_speed = spec.head.speed;
  o.head.head_name = spec.head.name;
  o.head.head_schedule = spec.head.speed_schedule;
  o.head.cache_dir += "/head";
  const int rc = run_head(o.head, (*lc)->addresses(), (*lc)->key());
  if (Status alive = (*lc)->check_alive(); rc != 0 && !alive.is_ok())
    std::fprintf(stderr, "%s\n", alive.message().c_str());  // which device died, and why
  std::lock_guard<std::mutex> lk(mu);
  live = nullptr;
  return rc;
}

const bool registered =
    register_command("cluster", "Run N emulated devices on this machine", [](CLI::App& sub) {
      auto o = std::make_shared<Opts>();
      sub.add_option("--n-devices", o->n_devices,
                     "Devices in all, head included: this process and N-1 worker processes "
                     "(same meaning as in `serve`)")
          ->capture_default_str();
      // The old spelling (N workers besides the head), kept only to name the new one.
      sub.add_option("--devices", o->old_devices)->group("");
      sub.add_option("--device-spec", o->spec,
                     "Emulated devices: phones3 or a JSON file (docs/cluster.md)");
      o->head.add(sub);
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace ll::tools
