// Planner benchmark: an 80-layer model (160 segments) over 16 devices, both objectives, on a
// cluster of four device kinds (exact DP) and on 16 all-different devices (DP over device
// orders + CBC polish). Prints one JSON object; exits 1 if any plan took 2 s or more.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "plan/planner.h"
#include "plan/synthetic.h"

namespace {

using namespace ll::plan;

ModelProfile model_70b() {
  SyntheticModelSpec s;  // llama-2-70b's shape at Q4_0: about 39 GB of weights
  s.name = "llama-70b-q4_0";
  s.n_layer = 80;
  s.n_embd = 8192;
  s.n_ff = 28672;
  s.n_head = 64;
  s.n_head_kv = 8;
  s.n_vocab = 32000;
  s.weight_type = ll::DType::kQ4_0;
  s.residual_edge_bytes = 8;  // a position tensor from segment 0 to every segment
  return make_synthetic_model(s);
}

DeviceProfile device(std::string name, double gib, double decode_gbs, double overhead_us) {
  DeviceProfile d;
  d.name = std::move(name);
  d.mem_budget_bytes = gib * 1024 * 1024 * 1024;
  d.decode_bytes_per_s.fallback = decode_gbs * 1e9;
  d.prefill_flops_per_s.fallback = decode_gbs * 10e9;
  d.other_flops_per_s = decode_gbs * 2.5e9;
  d.per_segment_overhead_s = overhead_us * 1e-6;
  return d;
}

// Head + 5 desktops + 5 mini PCs + 5 phones, one LAN: devices of a kind are interchangeable.
Cluster classes_cluster() {
  Cluster c;
  c.devices.push_back(device("head", 12, 30, 30));
  for (int i = 0; i < 5; ++i) c.devices.push_back(device("desk" + std::to_string(i), 8, 40, 20));
  for (int i = 0; i < 5; ++i) c.devices.push_back(device("mini" + std::to_string(i), 4, 20, 40));
  for (int i = 0; i < 5; ++i) c.devices.push_back(device("phone" + std::to_string(i), 3, 10, 90));
  c.devices[0].head = true;
  LinkProfile lan{5e-4, 1.5e-3, 125e6};
  c.links.assign(c.devices.size(), std::vector<LinkProfile>(c.devices.size(), lan));
  return c;
}

// 16 devices, every one different, with per-pair Wi-Fi/LAN-like links.
Cluster distinct_cluster() {
  std::mt19937_64 rng(16);
  std::uniform_real_distribution<double> u(0, 1);
  Cluster c;
  for (int i = 0; i < 16; ++i) {
    c.devices.push_back(
        device("dev" + std::to_string(i), 3 + 9 * u(rng), 8 + 40 * u(rng), 20 + 80 * u(rng)));
  }
  c.devices[0].head = true;
  c.links.assign(16, std::vector<LinkProfile>(16));
  for (int a = 0; a < 16; ++a) {
    for (int b = 0; b < 16; ++b) {
      double lat = 3e-4 + 8e-3 * u(rng);
      c.links[a][b] = {lat, 3 * lat, (50 + 900 * u(rng)) * 1e6 / 8};
    }
  }
  return c;
}

}  // namespace

int main() {
  const ModelProfile model = model_70b();
  RunConfig run;
  run.ctx = 4096;
  run.n_seqs = 1;
  run.mem_safety = 0.9;
  struct Case {
    const char* name;
    Cluster cluster;
  };
  std::vector<Case> cases{{"4-kinds-lan", classes_cluster()}, {"16-distinct", distinct_cluster()}};
  bool all_fast = true;
  std::printf("{\n  \"bench\": \"plan\",\n  \"model\": \"%s\",\n  \"segments\": %zu,\n",
              model.name.c_str(), model.segments.size());
  std::printf("  \"cases\": [\n");
  bool first = true;
  for (const Case& c : cases) {
    for (Objective obj : {Objective::kLatency, Objective::kThroughput}) {
      PlanOptions o;
      o.objective = obj;
      auto t0 = std::chrono::steady_clock::now();
      auto r = make_plan(model, c.cluster, run, o);
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      all_fast = all_fast && ms < 2000;
      std::printf("%s    {\"cluster\": \"%s\", \"devices\": %zu, \"objective\": \"%s\", ",
                  first ? "" : ",\n", c.name, c.cluster.devices.size(),
                  std::string(objective_name(obj)).c_str());
      first = false;
      if (!r.is_ok()) {
        std::printf("\"error\": \"%s\", \"plan_ms\": %.1f}", r.status().message().c_str(), ms);
        all_fast = false;
        continue;
      }
      std::printf(
          "\"plan_ms\": %.1f, \"method\": \"%s\", \"proven_optimal\": %s, "
          "\"devices_used\": %zu, \"single_stream_tok_s\": %.3f, "
          "\"pipelined_tok_s\": %.3f, \"even_pipelined_tok_s\": %.3f, "
          "\"even_single_stream_tok_s\": %.3f}",
          ms, r->solution.method.c_str(), r->solution.proven_optimal ? "true" : "false",
          r->plan.devices.size(), r->plan.single_stream_tok_s, r->plan.pipelined_tok_s,
          r->baselines[0].pipelined_tok_s, r->baselines[0].single_stream_tok_s);
    }
  }
  std::printf("\n  ],\n  \"all_under_2s\": %s\n}\n", all_fast ? "true" : "false");
  return all_fast ? 0 : 1;
}
