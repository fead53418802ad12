// Acceptance 4: on examples/devices/hetero3.json (one device 4x faster than the other two) the
// plan gives the fast device proportionally more work and beats both naive baselines.
#include <gtest/gtest.h>

#include "plan/devices_file.h"
#include "plan/planner.h"
#include "plan/synthetic.h"

namespace ll::plan {
namespace {

ModelProfile model_3b() {
  SyntheticModelSpec s;  // open_llama_3b's shape, Q8_0: about 3.6 GB of weights
  s.name = "llama-3b-q8_0";
  s.n_layer = 26;
  s.n_embd = 3200;
  s.n_ff = 8640;
  s.n_head = 32;
  s.n_head_kv = 32;
  return make_synthetic_model(s);
}

const DeviceUse* find(const PlanSummary& p, const std::string& name) {
  for (const DeviceUse& u : p.devices) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

double weight_share(const PlanSummary& p, const std::string& name) {
  double total = 0, mine = 0;
  for (const DeviceUse& u : p.devices) {
    total += u.weight_bytes_per_token;
    if (u.name == name) mine = u.weight_bytes_per_token;
  }
  return mine / total;
}

const PlanSummary& baseline(const PlanReport& r, const std::string& name) {
  for (const PlanSummary& b : r.baselines) {
    if (b.name == name) return b;
  }
  return r.baselines.at(0);
}

TEST(PlanHetero3, ThroughputGivesTheFastDeviceProportionallyMoreWork) {
  auto file = load_devices_file(std::string(LL_SOURCE_DIR) + "/examples/devices/hetero3.json");
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  PlanOptions o;
  o.objective = Objective::kThroughput;
  // Streams for a wave on every device: with the file's 2, the scheduler forms two waves, and
  // the latency plan on two devices serves them as fast.
  RunConfig run = *file->run;
  run.n_seqs = 6;
  auto r = make_plan(model_3b(), file->cluster, run, o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const PlanSummary& p = r->plan;
  ASSERT_TRUE(p.memory_ok);
  const DeviceUse* fast = find(p, "desktop");
  const DeviceUse* a = find(p, "laptop-a");
  const DeviceUse* b = find(p, "laptop-b");
  ASSERT_TRUE(fast && a && b);
  // Rates are 4:1:1, so balanced stages give it ~4/6 of the streamed weights.
  double share = weight_share(p, "desktop");
  EXPECT_GT(share, 0.55);
  EXPECT_LT(share, 0.78);
  EXPECT_GT(fast->last_segment - fast->first_segment, 2 * (a->last_segment - a->first_segment));
  EXPECT_GT(fast->last_segment - fast->first_segment, 2 * (b->last_segment - b->first_segment));
  const PlanSummary& even = baseline(*r, "even");
  const PlanSummary& mem = baseline(*r, "memory");
  EXPECT_GT(p.pipelined_tok_s, 1.3 * even.pipelined_tok_s);
  EXPECT_GT(p.pipelined_tok_s, 1.3 * mem.pipelined_tok_s);
  std::printf(
      "hetero3 throughput: desktop share %.3f; pipelined %.2f tok/s vs even %.2f (x%.2f), "
      "memory %.2f (x%.2f)\n",
      share, p.pipelined_tok_s, even.pipelined_tok_s, p.pipelined_tok_s / even.pipelined_tok_s,
      mem.pipelined_tok_s, p.pipelined_tok_s / mem.pipelined_tok_s);
}

TEST(PlanHetero3, LatencyPlanBeatsBaselinesSingleStream) {
  auto file = load_devices_file(std::string(LL_SOURCE_DIR) + "/examples/devices/hetero3.json");
  ASSERT_TRUE(file.is_ok()) << file.status().to_string();
  PlanOptions o;
  o.objective = Objective::kLatency;
  auto r = make_plan(model_3b(), file->cluster, *file->run, o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const PlanSummary& p = r->plan;
  EXPECT_GT(weight_share(p, "desktop"), 0.5);
  const PlanSummary& even = baseline(*r, "even");
  const PlanSummary& mem = baseline(*r, "memory");
  EXPECT_GT(p.single_stream_tok_s, 1.3 * even.single_stream_tok_s);
  EXPECT_GT(p.single_stream_tok_s, 1.3 * mem.single_stream_tok_s);
  std::printf(
      "hetero3 latency: desktop share %.3f; single-stream %.2f tok/s vs even %.2f (x%.2f), "
      "memory %.2f (x%.2f)\n",
      weight_share(p, "desktop"), p.single_stream_tok_s, even.single_stream_tok_s,
      p.single_stream_tok_s / even.single_stream_tok_s, mem.single_stream_tok_s,
      p.single_stream_tok_s / mem.single_stream_tok_s);
}

}  // namespace
}  // namespace ll::plan
