// Distributed runtime benchmarks (issues 6 and 7), one JSON object per scenario on stdout.
//   bench_runtime MODEL LINGUALINKED_BINARY [overhead|throughput|ttft]...
// Workers run as separate `lingualinked worker` processes on loopback; the head is this process.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "model/engine.h"
#include "model/generate.h"
#include "runtime/local_cluster.h"
#include "runtime/local_ring.h"
#include "runtime/net_ring.h"
#include "runtime/scheduler.h"

using namespace ll;

namespace {

using Workers = std::unique_ptr<runtime::LocalCluster>;

Workers start_workers(const std::string& bin, int n, const std::string& tag) {
  runtime::LocalClusterOptions o;
  o.binary = bin;
  o.insecure = true;
  for (int i = 0; i < n; ++i) {
    // The weight caches are kept for the next run.
    o.workers.push_back(
        {"bench-" + tag + std::to_string(i),
         {"--threads", "1", "--cache-dir", "/tmp/ll_bench_cache_" + std::to_string(i)}});
  }
  auto c = runtime::LocalCluster::start(o);
  if (!c.is_ok()) {
    std::fprintf(stderr, "workers: %s\n", c.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(c).value();
}

void stop_workers(Workers& ws) {
  ws.reset();
}

std::unique_ptr<runtime::NetRing> make_ring(const model::Model& m, const std::string& path,
                                            const Workers& ws, std::vector<int> cuts, int n_ctx,
                                            int max_seqs) {
  runtime::HeadOptions o;
  o.workers = ws->addresses();
  o.insecure = true;
  o.n_ctx = n_ctx;
  o.max_seqs = max_seqs;
  o.force_cuts = std::move(cuts);
  o.quiet = true;
  o.cache_dir = "/tmp/ll_bench_cache_head";
  auto r = runtime::NetRing::create(m, path, o);
  if (!r.is_ok()) {
    std::fprintf(stderr, "ring: %s\n", r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

// Cuts that give the head only the embedding and split the blocks evenly over n workers.
std::vector<int> worker_cuts(const graph::Graph& g, int n) {
  std::vector<int> cuts = {g.default_cuts[0]};
  auto rest = graph::segment_default(g, n + 1);
  for (int i = 2; i < rest->size(); ++i) cuts.push_back(rest->begin(i));
  return cuts;
}

std::vector<int32_t> prompt_of(int n, int vocab, int salt) {
  std::vector<int32_t> p = {1};
  for (int i = 1; i < n; ++i) p.push_back(3 + (i * 7919 + salt * 104729) % (vocab - 3));
  return p;
}

nlohmann::json overhead(const model::Model& m, const std::string& path, const std::string& bin) {
  const int n_gen = 64;
  const auto prompt = prompt_of(8, m.hp().n_vocab, 0);
  model::SamplerParams sp;
  sp.temp = 0;
  auto e = model::Engine::create(m, 1, 256);
  model::Sampler s(sp);
  auto single = model::generate(**e, prompt, n_gen, s, nullptr);
  auto ws = start_workers(bin, 3, "ovh");
  auto ring = make_ring(m, path, ws, worker_cuts(m.graph, 3), 256, 1);
  runtime::generate_on_ring(*ring, prompt, 8, sp, nullptr, nullptr);  // warm-up
  auto base = ring->device_stats();
  auto dist = runtime::generate_on_ring(*ring, prompt, n_gen, sp, nullptr, nullptr);
  auto stats = ring->device_stats();
  stop_workers(ws);
  double stage_sum = 0;
  for (size_t i = 0; i < stats->size(); ++i) {
    const double steps = (*stats)[i].value("steps", 0.0) - (*base)[i].value("steps", 0.0);
    const double busy = (*stats)[i].value("busy_s", 0.0) - (*base)[i].value("busy_s", 0.0);
    if (steps > 0) stage_sum += busy / steps;
  }
  const double per_token = dist->decode_s / dist->decode_evals;
  nlohmann::json j;
  j["scenario"] = "overhead_3_workers_1_thread";
  j["single_device_decode_tok_s"] = single->decode_tok_s();
  j["distributed_decode_tok_s"] = dist->decode_tok_s();
  j["ratio"] = dist->decode_tok_s() / single->decode_tok_s();
  j["identical_tokens"] = dist->tokens == single->tokens;
  j["hops_per_token"] = 4;
  j["per_hop_overhead_us"] = 1e6 * (per_token - stage_sum) / 4;
  return j;
}

double run_streams(runtime::Ring& ring, int n_dev, int streams, int n_gen, int vocab,
                   int prefill_chunk = 0) {
  runtime::SchedulerOptions so;
  so.max_seqs = 16;
  so.n_devices = n_dev;
  so.prefill_chunk = prefill_chunk;
  runtime::Scheduler sched(ring, so);
  std::vector<std::promise<void>> done(streams);
  const double t0 = mono_now_s();
  for (int i = 0; i < streams; ++i) {
    runtime::GenRequest r;
    r.prompt = prompt_of(8, vocab, i + 1);
    r.n_predict = n_gen;
    r.sampling.temp = 0;
    r.on_done = [&done, i](const Status&, const std::string&) { done[i].set_value(); };
    if (!sched.submit(std::move(r)).is_ok()) std::exit(1);
  }
  for (auto& d : done) d.get_future().wait();
  return static_cast<double>(streams) * n_gen / (mono_now_s() - t0);
}

nlohmann::json throughput(const model::Model& m, const std::string& path, const std::string& bin) {
  const int n_gen = 32;
  nlohmann::json j;
  j["scenario"] = "throughput_2_devices_1_thread";
  auto ws = start_workers(bin, 1, "thr");
  auto half = graph::segment_default(m.graph, 2);
  auto ring = make_ring(m, path, ws, {half->begin(1)}, 256, 16);
  auto whole = graph::segment_at(m.graph, {});
  auto local = runtime::LocalRing::create(m.graph, *whole, *m.weights, 256, 16, {1});
  for (int n : {1, 2, 4, 8, 16}) {
    const double dist = run_streams(*ring, 2, n, n_gen, m.hp().n_vocab);
    const double single = run_streams(**local, 1, n, n_gen, m.hp().n_vocab);
    j["curve"].push_back(
        {{"streams", n}, {"distributed_tok_s", dist}, {"single_device_tok_s", single}});
  }
  stop_workers(ws);
  j["ratio_8_over_1"] = j["curve"][3]["distributed_tok_s"].get<double>() /
                        j["curve"][0]["distributed_tok_s"].get<double>();
  return j;
}

double ttft_once(runtime::Ring& ring, const std::vector<int32_t>& prompt, int chunk) {
  runtime::SchedulerOptions so;
  so.max_seqs = 1;
  so.n_devices = 3;
  so.prefill_chunk = chunk;
  runtime::Scheduler sched(ring, so);
  std::promise<double> first;
  bool got = false;
  const double t0 = mono_now_s();
  runtime::GenRequest r;
  r.prompt = prompt;
  r.n_predict = 1;
  r.sampling.temp = 0;
  r.on_token = [&](int32_t) {
    if (!got) first.set_value(mono_now_s() - t0);
    got = true;
    return true;
  };
  if (!sched.submit(std::move(r)).is_ok()) std::exit(1);
  const double t = first.get_future().get();
  sched.wait_idle();
  return t;
}

nlohmann::json ttft(const model::Model& m, const std::string& path, const std::string& bin) {
  auto ws = start_workers(bin, 2, "ttft");
  auto thirds = graph::segment_default(m.graph, 3);
  auto ring = make_ring(m, path, ws, {thirds->begin(1), thirds->begin(2)}, 1024, 1);
  const auto prompt = prompt_of(512, m.hp().n_vocab, 9);
  nlohmann::json j;
  j["scenario"] = "ttft_3_devices_512_prompt";
  double best_whole = 1e30, best_chunked = 1e30;
  for (int rep = 0; rep < 2; ++rep) {
    best_whole = std::min(best_whole, ttft_once(*ring, prompt, 0));
    best_chunked = std::min(best_chunked, ttft_once(*ring, prompt, 64));
  }
  stop_workers(ws);
  j["ttft_whole_prompt_s"] = best_whole;
  j["ttft_chunked_64_s"] = best_chunked;
  j["speedup"] = best_whole / best_chunked;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: bench_runtime MODEL LINGUALINKED_BINARY [overhead|throughput|ttft]...\n");
    return 2;
  }
  const std::string path = argv[1], bin = argv[2];
  auto m = model::Model::load(path);
  if (!m.is_ok()) {
    std::fprintf(stderr, "%s\n", m.status().to_string().c_str());
    return 1;
  }
  std::vector<std::string> which;
  for (int i = 3; i < argc; ++i) which.push_back(argv[i]);
  if (which.empty()) which = {"overhead", "throughput", "ttft"};
  for (const auto& w : which) {
    nlohmann::json j = w == "overhead"     ? overhead(**m, path, bin)
                       : w == "throughput" ? throughput(**m, path, bin)
                                           : ttft(**m, path, bin);
    j["model"] = path;
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}
