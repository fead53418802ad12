// Issue 14, acceptance 1: does an emulated device at speed 0.3 take 1/0.3 as long as one at
// speed 1.0 for equal work, with one stream and with eight? One JSON object per scenario.
//   bench_emulator MODEL LINGUALINKED_BINARY [--slow-speed 0.3] [-n 48]
// The ring: the head (embedding only), "fast" (speed 1, the first half of the layers),
// "slow" (the second half), "tail" (output norm and LM head) - so fast and slow do exactly the
// same work and the ratio of their stage times is the emulated speed ratio.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/local_cluster.h"
#include "runtime/net_ring.h"
#include "runtime/scheduler.h"

using namespace ll;

namespace {

[[noreturn]] void die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), st.to_string().c_str());
  std::exit(1);
}

std::vector<int32_t> prompt_of(int n, int vocab, int salt) {
  std::vector<int32_t> p = {1};
  for (int i = 1; i < n; ++i) p.push_back(3 + (i * 7919 + salt * 104729) % (vocab - 3));
  return p;
}

void run_streams(runtime::Ring& ring, int streams, int n_gen, int vocab) {
  runtime::SchedulerOptions so;
  so.max_seqs = 8;
  so.n_devices = 4;
  runtime::Scheduler sched(ring, so);
  std::vector<std::promise<void>> done(streams);
  for (int i = 0; i < streams; ++i) {
    runtime::GenRequest r;
    r.prompt = prompt_of(8, vocab, i + 1);
    r.n_predict = n_gen;
    r.sampling.temp = 0;
    r.on_done = [&done, i](const Status&, const std::string&) { done[i].set_value(); };
    if (auto id = sched.submit(std::move(r)); !id.is_ok()) die("submit", id.status());
  }
  for (auto& d : done) d.get_future().wait();
}

// Seconds of `key` per forward pass of ring device i between two device_stats() snapshots.
double per_pass(const nlohmann::json& before, const nlohmann::json& after, int i,
                const char* key = "busy_s") {
  const double steps = after[i].value("steps", 0.0) - before[i].value("steps", 0.0);
  const double busy = after[i].value(key, 0.0) - before[i].value(key, 0.0);
  return steps > 0 ? busy / steps : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: bench_emulator MODEL LINGUALINKED_BINARY [--slow-speed S] [-n N] "
                 "[--reps R]\n");
    return 2;
  }
  const std::string path = argv[1], bin = argv[2];
  double slow_speed = 0.3;
  int n_gen = 48, reps = 3;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--slow-speed")) slow_speed = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "-n")) n_gen = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--reps")) reps = std::max(1, std::atoi(argv[i + 1]));
  }
  auto m = model::Model::load(path);
  if (!m.is_ok()) die(path, m.status());
  const graph::Graph& g = (*m)->graph;
  const int L = g.hp.n_layer;
  // default_cuts: after the embedding, then two per layer; the last is before the output.
  if (static_cast<int>(g.default_cuts.size()) != 2 * L + 1 || L < 2) {
    std::fprintf(stderr, "unexpected cut points (%zu for %d layers)\n", g.default_cuts.size(), L);
    return 1;
  }
  const std::vector<int> cuts = {g.default_cuts[0], g.default_cuts[2 * (L / 2)],
                                 g.default_cuts[2 * L]};
  runtime::LocalClusterOptions lo;
  lo.binary = bin;
  lo.insecure = true;
  char speed[32];
  std::snprintf(speed, sizeof speed, "%.6g", slow_speed);
  const std::string cache = "/tmp/ll_bench_emulator_cache";
  lo.workers = {{"fast", {"--threads", "1", "--cache-dir", cache + "-fast"}},
                {"slow", {"--threads", "1", "--cache-dir", cache + "-slow", "--speed", speed}},
                {"tail", {"--threads", "1", "--cache-dir", cache + "-tail"}}};
  auto cluster = runtime::LocalCluster::start(lo);
  if (!cluster.is_ok()) die("workers", cluster.status());
  runtime::HeadOptions ho;
  ho.workers = (*cluster)->addresses();
  ho.insecure = true;
  ho.n_ctx = 256;
  ho.max_seqs = 8;
  ho.force_cuts = cuts;
  ho.quiet = true;
  ho.cache_dir = cache + "-head";
  auto ring = runtime::NetRing::create(**m, path, ho);
  if (!ring.is_ok()) die("ring", ring.status());
  // Rounds: this shared machine's noise moves one round's ratio by +-15 %; the median of a
  // few is the figure, every round is reported.
  struct Round {
    double fast, slow, slow_compute, tok_s;
  };
  for (int streams : {1, 8}) {
    std::vector<Round> rounds;
    for (int r = 0; r < reps; ++r) {
      auto before = (*ring)->device_stats();
      if (!before.is_ok()) die("stats", before.status());
      const auto t0 = std::chrono::steady_clock::now();
      run_streams(**ring, streams, n_gen, (*m)->hp().n_vocab);
      const double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      auto after = (*ring)->device_stats();
      if (!after.is_ok()) die("stats", after.status());
      const double slow = per_pass(*before, *after, 2);
      // The slow device's own compute (its stage time minus what it idled for the emulation).
      rounds.push_back({per_pass(*before, *after, 1), slow,
                        slow - per_pass(*before, *after, 2, "throttle_s"), streams * n_gen / wall});
    }
    std::sort(rounds.begin(), rounds.end(),
              [](const Round& a, const Round& b) { return a.slow / a.fast < b.slow / b.fast; });
    const Round& med = rounds[rounds.size() / 2];
    nlohmann::json all = nlohmann::json::array();
    for (const Round& r : rounds) all.push_back(r.slow / r.fast);
    const double ratio = med.slow / med.fast, want = 1 / slow_speed;
    nlohmann::json j = {{"scenario", "emulator_speed"},
                        {"model", path.substr(path.find_last_of('/') + 1)},
                        {"streams", streams},
                        {"slow_speed", slow_speed},
                        {"fast_stage_ms", 1e3 * med.fast},
                        {"slow_stage_ms", 1e3 * med.slow},
                        {"slow_compute_ms", 1e3 * med.slow_compute},
                        {"slow_stage_over_own_compute", med.slow / med.slow_compute},
                        {"ratio", ratio},
                        {"ratios", all},
                        {"expected_ratio", want},
                        {"error", ratio / want - 1},
                        {"within_10_percent", std::abs(ratio / want - 1) <= 0.1},
                        {"tok_s", med.tok_s}};
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}
