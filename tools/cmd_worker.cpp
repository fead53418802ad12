// lingualinked worker: the long-running device daemon.
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>

#include "command.h"
#include "common.h"
#include "core/log.h"
#include "net/cluster_key.h"
#include "net/discovery.h"
#include "net/message.h"
#include "plan/units.h"
#include "runtime/profiler.h"
#include "runtime/worker.h"

namespace ll::tools {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop = true;
}

struct Opts {
  std::string listen, model, mem_budget, cache_dir = ".lingualinked-cache", key_file, name,
                                         ready_file, bandwidth, speed_schedule;
  int threads = 1;
  int parent_pid = 0;
  double latency_ms = 0, latency_p95_ms = 0, loss = 0, speed = 1;
  bool insecure = false, verbose = false, advertise = false;
};

// What `worker --advertise` announces (docs/cluster.md "LAN discovery").
net::ServiceInfo advert(const Opts& o, const runtime::WorkerOptions& w, const std::string& bound) {
  net::ServiceInfo s;
  std::string name = o.name;
  if (name.empty()) {
    char host[64] = "worker";
    gethostname(host, sizeof host - 1);
    name = host;
  }
  s.instance = name;
  // bound is tcp://IP:PORT; a wildcard IP leaves the address to the answer's source.
  const std::string hp = bound.substr(bound.find("://") + 3);
  const size_t colon = hp.rfind(':');
  s.ip = hp.substr(0, colon);
  if (s.ip == "0.0.0.0" || s.ip == "*") s.ip.clear();
  s.port = std::stoi(hp.substr(colon + 1));
  utsname u{};
  uname(&u);
  const double mem = w.mem_budget_bytes > 0 ? w.mem_budget_bytes : runtime::os_available_memory();
  s.txt = {{"version", std::to_string(net::kProtocolVersion)},
           {"name", name},
           {"arch", u.machine},
           {"mem", std::to_string(static_cast<long long>(mem))},
           {"keyfp", o.insecure ? "insecure" : net::key_fingerprint(w.key)}};
  return s;
}

int run(const Opts& o) {
  if (o.parent_pid > 0) {
    // A local cluster's worker must not outlive it, even when it is killed outright.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != o.parent_pid) return fail(unavailable("the parent process is gone"));
  }
  runtime::WorkerOptions w;
  w.listen = o.listen.find("://") == std::string::npos ? "tcp://" + o.listen : o.listen;
  w.model_path = o.model;
  w.threads = o.threads;
  w.cache_dir = o.cache_dir;
  w.name = o.name;
  w.insecure = o.insecure;
  w.added_latency_s = o.latency_ms / 1000.0;
  w.latency_p95_s = o.latency_p95_ms / 1000.0;
  w.loss_rate = o.loss;
  w.speed = o.speed;
  if (!o.speed_schedule.empty()) {
    auto s = runtime::parse_speed_schedule(o.speed_schedule);
    if (!s.is_ok()) return fail(invalid_argument("--speed-schedule: " + s.status().message()));
    w.speed_schedule = *s;
  }
  if (o.verbose) set_log_level(LogLevel::kDebug);
  if (!o.mem_budget.empty()) {
    auto b = plan::parse_size(o.mem_budget);
    if (!b.is_ok()) return fail(invalid_argument("--mem-budget: " + b.status().message()));
    w.mem_budget_bytes = *b;
  }
  if (!o.bandwidth.empty()) {
    auto b = plan::parse_bandwidth(o.bandwidth);
    if (!b.is_ok())
      return fail(
          invalid_argument("--bandwidth: expected e.g. 100Mbit/s, got '" + o.bandwidth + "'"));
    w.bandwidth_bytes_per_s = *b;
  }
  if (!o.insecure) {
    if (o.key_file.empty())
      return fail(
          invalid_argument("a cluster key is required: --key FILE (see `lingualinked keygen`), or "
                           "--insecure to run without encryption"));
    auto k = net::load_cluster_key(o.key_file);
    if (!k.is_ok()) return fail(k.status());
    w.key = *k;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::string bound;
  std::atomic<bool> ready_written{false};
  std::unique_ptr<net::Advertiser> advertiser;
  // The address is known only after bind (port 0 = any free port): run_worker reports it.
  Status st = runtime::run_worker(w, g_stop, &bound, [&](const std::string& addr) {
    std::fprintf(stderr, "worker listening on %s\n", addr.c_str());
    if (o.advertise) {
      auto a = net::Advertiser::start(advert(o, w, addr));
      if (a.is_ok()) {
        advertiser = std::move(a).value();
        std::fprintf(stderr, "advertised as _lingualinked._tcp (mDNS)\n");
      } else {
        std::fprintf(stderr, "warning: --advertise: %s\n", a.status().message().c_str());
      }
    }
    if (!o.ready_file.empty()) {
      std::ofstream f(o.ready_file + ".tmp");
      f << addr << "\n";
      f.close();
      std::rename((o.ready_file + ".tmp").c_str(), o.ready_file.c_str());
    }
  });
  if (!st.is_ok()) return fail(st);
  return 0;
}

const bool registered = register_command("worker", "Run a device daemon", [](CLI::App& sub) {
  auto o = std::make_shared<Opts>();
  sub.add_option("--listen", o->listen,
                 "Address to listen on, e.g. tcp://0.0.0.0:5555 (port 0 = any)")
      ->required();
  sub.add_option("-m,--model", o->model,
                 "Own copy of the model (used when the head's file has the same hash)");
  sub.add_option("--mem-budget", o->mem_budget,
                 "Memory budget, e.g. 2GiB (default: available memory)");
  sub.add_option("-t,--threads", o->threads, "Threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  sub.add_option("--cache-dir", o->cache_dir, "Where received weights and profiles are kept")
      ->capture_default_str();
  sub.add_option("--key", o->key_file, "Cluster key file (lingualinked keygen)");
  sub.add_flag("--insecure", o->insecure, "Run without CurveZMQ encryption and authentication");
  sub.add_option("--name", o->name, "Node name");
  sub.add_option("--ready-file", o->ready_file, "Write the bound address here once listening");
  sub.add_option("--latency-ms", o->latency_ms, "Emulated one-way latency added to every message");
  sub.add_option("--bandwidth", o->bandwidth, "Emulated outgoing bandwidth, e.g. 100Mbit/s");
  sub.add_option("--latency-p95-ms", o->latency_p95_ms,
                 "Emulated latency jitter: 95th percentile (--latency-ms is the median)")
      ->check(CLI::Range(0.0, 60000.0));
  sub.add_option("--loss", o->loss, "Emulated share of messages stalled as by a lost segment")
      ->check(CLI::Range(0.0, 0.5));
  sub.add_option("--speed", o->speed,
                 "Emulated device speed: every operation takes 1/speed as long (docs/cluster.md)")
      ->check(CLI::Range(0.01, 1.0));
  sub.add_option("--speed-schedule", o->speed_schedule,
                 "Speed changes after the first forward pass, e.g. 10:0.3,20:1 (seconds:speed)");
  sub.add_option("--exit-with-parent", o->parent_pid,
                 "Stop when process PID (the parent that started this worker) ends");
  sub.add_flag("-v,--verbose", o->verbose, "Log every connection and error");
  sub.add_flag("--advertise", o->advertise,
               "Announce this worker on the LAN (mDNS/DNS-SD _lingualinked._tcp) for --discover");
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace ll::tools
