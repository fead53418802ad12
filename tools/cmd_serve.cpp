// lingualinked serve: the OpenAI-compatible HTTP API over a ring of devices (docs/server.md).
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cluster_spec.h"
#include "command.h"
#include "common.h"
#include "discover.h"
#include "net/cluster_key.h"
#include "plan/units.h"
#include "runtime/local_cluster.h"
#include "runtime/net_ring.h"
#include "server/backend.h"
#include "server/cluster_status.h"
#include "server/http_server.h"

namespace ll::tools {
namespace {

struct Opts {
  server::BackendOptions backend;
  server::ServerOptions http;
  std::string workers, key_file, spec, objective = "throughput", cache_dir = ".lingualinked-cache",
                                       ready_file, cuts, placement = "plan", mem_budget;
  bool insecure = false, in_process = false, no_failover = false;
  std::string rebalance = "on";
  double heartbeat_s = 1, failover_wait_s = 30;
  int old_cluster = -1;   // set only by the old spelling --cluster
  double discover_s = 0;  // > 0: add the workers advertised on the LAN
};

// The ring over ZeroMQ: remote workers, or local worker processes (--n-devices N, --device-spec).
// Local workers are started into *local, which must outlive the backend.
Result<std::unique_ptr<server::Backend>> make_net_backend(
    const Opts& o, std::vector<std::string> addrs, std::unique_ptr<runtime::LocalCluster>* local) {
  LL_ASSIGN_OR_RETURN(auto b, server::load_backend_model(o.backend));
  runtime::HeadOptions ho;
  ho.insecure = o.insecure;
  if (addrs.empty()) {
    ClusterSpec spec;
    if (!o.spec.empty()) {
      LL_ASSIGN_OR_RETURN(spec, load_cluster_spec(o.spec));
    } else {
      spec = uniform_spec(o.backend.cluster - 1, o.backend.threads);
    }
    LL_ASSIGN_OR_RETURN(
        const double model_bytes,
        run_bytes(o.backend.model_path, server::backend_ctx(*b, o.backend), o.backend.max_seqs));
    LL_ASSIGN_OR_RETURN(runtime::LocalClusterOptions lo,
                        local_cluster_options(spec, model_bytes, o.insecure, o.cache_dir));
    LL_ASSIGN_OR_RETURN(*local, runtime::LocalCluster::start(lo));
    addrs = (*local)->addresses();
    ho.key = (*local)->key();
    ho.added_latency_s = spec.head.latency_ms / 1000.0;
    ho.latency_p95_s = spec.head.latency_p95_ms / 1000.0;
    ho.bandwidth_bytes_per_s = spec.head.bandwidth_bps;
    ho.loss_rate = spec.head.loss;
    ho.speed = spec.head.speed;
    ho.display_name = spec.head.name;
    ho.speed_schedule = spec.head.speed_schedule;
  } else if (!o.insecure) {
    if (o.key_file.empty())
      return invalid_argument("--workers needs --key FILE (lingualinked keygen) or --insecure");
    LL_ASSIGN_OR_RETURN(ho.key, net::load_cluster_key(o.key_file));
  }
  auto objective = plan::objective_from_name(o.objective);
  if (!objective) return invalid_argument("--objective must be latency or throughput");
  if (!o.mem_budget.empty()) {
    auto budget = plan::parse_size(o.mem_budget);
    if (!budget.is_ok()) return invalid_argument("--mem-budget: " + budget.status().message());
    ho.mem_budget_bytes = *budget;
  }
  ho.workers = addrs;
  ho.objective = *objective;
  ho.placement = o.placement;
  if (!o.cuts.empty()) {
    LL_ASSIGN_OR_RETURN(std::vector<int32_t> cuts, parse_ids(o.cuts));
    ho.force_cuts.assign(cuts.begin(), cuts.end());
  }
  ho.n_ctx = server::backend_ctx(*b, o.backend);
  ho.max_seqs = o.backend.max_seqs;
  ho.threads = o.backend.threads;
  ho.cache_dir = o.cache_dir;
  ho.failover = !o.no_failover;
  ho.rebalance = o.rebalance == "on";
  ho.heartbeat_timeout_s = o.heartbeat_s;
  ho.failover_wait_s = o.failover_wait_s;
  server::EventLog* events = &b->cluster.events;  // outlives the ring (Backend's member order)
  ho.on_event = [events](const std::string& kind, const std::string& text) {
    events->add(kind, text);
  };
  LL_ASSIGN_OR_RETURN(auto ring, runtime::NetRing::create(*b->model, o.backend.model_path, ho));
  const int n = ring->n_devices();
  b->metrics = server::net_ring_metrics(*ring);
  b->cluster.plan = ring->plan_json();
  // The status and metrics show what runs: a baseline placement in place of the planner's.
  if (o.placement != "plan" && b->cluster.plan.contains("baselines") &&
      b->cluster.plan["baselines"].contains(o.placement))
    b->cluster.plan["plan"] = b->cluster.plan["baselines"][o.placement];
  b->cluster.plan_svg = ring->plan_svg();
  b->cluster.devices = server::devices_from_plan(b->cluster.plan, addrs);
  if (b->cluster.devices.empty()) {  // fixed --cuts: no plan, but the ring knows its devices
    for (const std::string& name : ring->device_names()) b->cluster.devices.push_back({name});
  }
  server::attach_ring(*b, std::move(ring), n,
                      "ring of " + std::to_string(n) + " devices over ZeroMQ", o.backend);
  return b;
}

int run(Opts o) {
  if (o.old_cluster != -1) {
    return fail(invalid_argument("--cluster was renamed: use --n-devices " +
                                 std::to_string(o.old_cluster) +
                                 " (devices in all, head included, as in `cluster`)"));
  }
  if (!o.workers.empty()) {
    std::string w;
    for (char c : o.workers + ",") {
      if (c != ',') {
        w += c;
      } else if (!w.empty()) {
        o.backend.workers.push_back(w.find("://") == std::string::npos ? "tcp://" + w : w);
        w.clear();
      }
    }
  }
  if (o.discover_s > 0) {
    if (o.backend.cluster > 1 || !o.spec.empty())
      return fail(
          invalid_argument("--discover finds remote workers; it excludes --n-devices "
                           "and --device-spec"));
    net::ClusterKey key;
    if (!o.insecure) {
      if (o.key_file.empty())
        return fail(invalid_argument("--discover needs --key FILE (or --insecure)"));
      auto k = net::load_cluster_key(o.key_file);
      if (!k.is_ok()) return fail(k.status());
      key = *k;
    }
    auto found = discover_workers(o.discover_s, key, o.insecure);
    if (!found.is_ok()) return fail(found.status());
    o.backend.workers.insert(o.backend.workers.end(), found->begin(), found->end());
  }
  // SIGINT/SIGTERM are blocked before any thread starts, so every thread inherits the mask and
  // the main thread alone takes them with sigwait(): shutdown then runs as ordinary code.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  const bool networked =
      !o.backend.workers.empty() || !o.spec.empty() || (o.backend.cluster > 1 && !o.in_process);
  std::unique_ptr<runtime::LocalCluster> local;  // outlives the backend: declared first
  auto backend =
      networked ? make_net_backend(o, o.backend.workers, &local) : server::make_backend(o.backend);
  if (!backend.is_ok()) return fail(backend.status());
  server::Backend& b = **backend;
  server::HttpServer srv(b, o.http);
  auto port = srv.start();
  if (!port.is_ok()) return fail(port.status());
  std::fprintf(stderr, "serving %s (%s, context %d, %d slots, chat format %s) on http://%s:%d\n",
               b.model_id.c_str(), b.description.c_str(), b.n_ctx(), o.backend.max_seqs,
               server::chat_format_name(b.chat_template.format), o.http.host.c_str(), *port);
  if (!o.ready_file.empty()) {  // written whole, then renamed: a reader never sees half of it
    const std::string tmp = o.ready_file + ".tmp";
    std::ofstream(tmp) << "http://" << o.http.host << ":" << *port << "\n";
    std::rename(tmp.c_str(), o.ready_file.c_str());
  }
  int sig = 0;
  sigwait(&sigs, &sig);
  std::fprintf(stderr, "signal %d: stopping\n", sig);
  srv.stop();
  backend->reset();  // the scheduler and ring go before the workers they talk to
  return 0;
}

const bool registered =
    register_command("serve", "OpenAI-compatible HTTP server", [](CLI::App& sub) {
      auto o = std::make_shared<Opts>();
      o->http.log_requests = true;
      sub.add_option("-m,--model", o->backend.model_path, "GGUF model file")->required();
      auto* workers =
          sub.add_option("--workers", o->workers, "Worker addresses HOST:PORT, comma-separated");
      sub.add_option("--n-devices", o->backend.cluster,
                     "Devices in all, head included: this process and N-1 local worker "
                     "processes (same meaning as in `cluster`)")
          ->capture_default_str()
          ->check(CLI::Range(1, 64))
          ->excludes(workers);
      // The old spelling, kept only to name the new one.
      sub.add_option("--cluster", o->old_cluster)->group("");
      sub.add_option("--device-spec", o->spec,
                     "Emulated local devices: phones3 or a spec file (docs/cluster.md)")
          ->excludes(workers);
      sub.add_option("--key", o->key_file, "Cluster key file for --workers and --discover");
      sub.add_flag("--discover{3}", o->discover_s,
                   "Also use the workers advertised on the LAN with this cluster key "
                   "(--discover=SECONDS to wait longer than 3 s)");
      sub.add_flag("--insecure", o->insecure, "Links without CurveZMQ encryption");
      sub.add_flag("--in-process", o->in_process,
                   "Keep the --n-devices devices in this process (no ZeroMQ)");
      sub.add_option("--objective", o->objective, "Planner objective: throughput or latency")
          ->capture_default_str();
      sub.add_option("--placement", o->placement,
                     "plan, even (equal layers in device order) or memory (in proportion to "
                     "memory budgets)")
          ->capture_default_str()
          ->check(CLI::IsMember({"plan", "even", "memory"}));
      sub.add_option("--cuts", o->cuts,
                     "Fixed op cuts, one segment per device in order (skips planning)");
      sub.add_option("--cache-dir", o->cache_dir, "Cache for weight shares and profiles")
          ->capture_default_str();
      sub.add_option("--mem-budget", o->mem_budget,
                     "Head device memory budget (default: from the OS), e.g. 64KiB");
      sub.add_option("--heartbeat", o->heartbeat_s,
                     "Seconds without any traffic after which a worker is lost")
          ->capture_default_str()
          ->check(CLI::Range(0.1, 60.0));
      sub.add_option("--failover-wait", o->failover_wait_s,
                     "Seconds a request in flight waits for capacity when the remaining devices "
                     "cannot hold the model")
          ->capture_default_str()
          ->check(CLI::Range(0.0, 3600.0));
      sub.add_option("--rebalance", o->rebalance,
                     "on: move work off devices that become slow while serving "
                     "(docs/balance.md)")
          ->capture_default_str()
          ->check(CLI::IsMember({"on", "off"}));
      sub.add_flag("--no-failover", o->no_failover,
                   "A lost worker fails the requests in flight instead of being replanned around");
      sub.add_option("--ready-file", o->ready_file,
                     "Write the server's URL here once it accepts requests");
      sub.add_option("--host", o->http.host, "Address to listen on")->capture_default_str();
      sub.add_option("--port", o->http.port, "Port (0 = any free port)")
          ->capture_default_str()
          ->check(CLI::Range(0, 65535));
      sub.add_option("--api-key", o->http.api_key, "Require 'Authorization: Bearer KEY'");
      sub.add_option("--max-seqs", o->backend.max_seqs, "Sequences generated at once (KV slots)")
          ->capture_default_str()
          ->check(CLI::Range(1, 256));
      sub.add_option("--ctx", o->backend.ctx,
                     "Context length per sequence (0 = min(trained, 4096))")
          ->capture_default_str()
          ->check(CLI::Range(0, 1 << 20));
      sub.add_option("--prefill-chunk", o->backend.prefill_chunk,
                     "Prompt rows per forward pass (0 = whole prompt)")
          ->capture_default_str()
          ->check(CLI::Range(0, 1 << 20));
      sub.add_option("-t,--threads", o->backend.threads, "Threads per device")
          ->capture_default_str()
          ->check(CLI::Range(1, 256));
      sub.add_option("--http-threads", o->http.http_threads,
                     "HTTP worker threads (one per open stream)")
          ->capture_default_str()
          ->check(CLI::Range(4, 1024));
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace ll::tools
