// The cost model on hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>

#include "plan/cost.h"
#include "plan/planner.h"
#include "plan_test_util.h"

namespace ll::plan {
namespace {

// Three segments, two devices; edges 0->1 (1000 B), 1->2 (2000 B), 0->2 (500 B, residual).
struct Tiny {
  ModelProfile model;
  Cluster cluster;
  RunConfig run;
  Tiny() {
    model.name = "tiny";
    for (int s = 0; s < 3; ++s) {
      Segment g;
      g.label = std::string("s").append(std::to_string(s));
      g.weight_bytes_by_type[DType::kQ8_0] = 1e6 * (s + 1);
      g.weight_bytes_by_type[DType::kF32] = 1e3;
      g.flops_other = 1e6;
      g.weight_bytes_resident = 2e6;
      g.kv_bytes_per_token = 100;
      g.scratch_bytes = 1e5 * (s + 1);
      model.segments.push_back(g);
    }
    model.segments[0].edges = {{1, 1000}, {2, 500}};
    model.segments[1].edges = {{2, 2000}};
    for (int d = 0; d < 2; ++d) {
      DeviceProfile p;
      p.name = std::string(1, d ? 'b' : 'a');
      p.mem_budget_bytes = 1e7;
      p.decode_bytes_per_s.by_type[DType::kQ8_0] = 1e9 * (d + 1);
      p.decode_bytes_per_s.fallback = 1e8;
      p.other_flops_per_s = 1e9;
      p.per_segment_overhead_s = 1e-4;
      cluster.devices.push_back(p);
    }
    cluster.links.assign(2, std::vector<LinkProfile>(2));
    cluster.links[0][1] = {1e-3, 3e-3, 1e6};
    cluster.links[1][0] = {2e-3, 5e-3, 2e6};
    run.ctx = 1000;
    run.n_seqs = 2;
    run.mem_safety = 0.5;
  }
  // A third device 'c' like device `like`; every link then 1 ms and `bandwidth` bytes/s.
  void add_device_c(int like, double bandwidth) {
    DeviceProfile c = cluster.devices[like];
    c.name = std::string(1, 'c');
    cluster.devices.push_back(c);
    cluster.links.assign(3, std::vector<LinkProfile>(3, {1e-3, 1e-3, bandwidth}));
  }
};

TEST(PlanCost, ComputeTimeFollowsTheFormula) {
  Tiny t;
  auto c = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  // s1 on b: 2e6 / 2e9 + 1e3 / 1e8 (fallback rate for F32) + 1e6 / 1e9 + 1e-4, plus the
  // attention's KV reads at half the context: 100 B per position * 500 at the F32 rate.
  EXPECT_DOUBLE_EQ(c->compute_s(1, 1),
                   2e6 / 2e9 + 1e3 / 1e8 + 1e6 / 1e9 + 1e-4 + 100.0 * 500 / 1e8);
  EXPECT_DOUBLE_EQ(c->mem_need(2), 2e6 + 100.0 * 1000 * 2);
  EXPECT_DOUBLE_EQ(c->budget(0), 5e6);
  EXPECT_DOUBLE_EQ(c->run_memory(0, 3), 3 * (2e6 + 2e5) + 3e5);
}

// Four 96 MiB segments on two devices with the same probe rate; device 0 streams a working set
// larger than its probe's at a quarter of it, device 1 has no such rate.
struct LargeShares {
  ModelProfile model;
  Cluster cluster;
  RunConfig run;
  static constexpr double kSeg = 96.0 * 1024 * 1024;
  LargeShares() {
    for (int s = 0; s < 4; ++s) {
      Segment g;
      g.weight_bytes_by_type[DType::kQ8_0] = kSeg;
      g.weight_bytes_resident = kSeg;
      if (s < 3) g.edges = {{s + 1, 1000}};
      model.segments.push_back(g);
    }
    for (int d = 0; d < 2; ++d) {
      DeviceProfile p;
      p.name = d ? "b" : "a";
      p.mem_budget_bytes = 1e10;
      p.decode_bytes_per_s.by_type[DType::kQ8_0] = 1e9;
      p.other_flops_per_s = 1e9;
      cluster.devices.push_back(p);
    }
    cluster.devices[0].decode_large_bytes_per_s.by_type[DType::kQ8_0] = 0.25e9;
    cluster.links.assign(2, std::vector<LinkProfile>(2, {1e-6, 1e-6, 1e12}));
    run.ctx = 16;
  }
};

TEST(PlanCost, AShareLargerThanTheProbeIsChargedTheLargeWorkingSetRate) {
  LargeShares t;
  auto c = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  const double all_extra = t.kSeg * (1 / 0.25e9 - 1 / 1e9);  // one segment at the large rate
  // 96 MiB is within the probe's 128 MiB: its rate holds.
  EXPECT_DOUBLE_EQ(c->working_set_extra_s(0, 1, 0), 0);
  // 192 MiB: log-linear between 128 and 256 MiB.
  EXPECT_NEAR(c->working_set_extra_s(0, 2, 0), 2 * all_extra * std::log2(1.5), 1e-12);
  // 288 MiB: beyond 256, the large rate for all of it.
  EXPECT_NEAR(c->working_set_extra_s(0, 3, 0), 3 * all_extra, 1e-12);
  // Without a large rate, or with one no slower, nothing.
  EXPECT_DOUBLE_EQ(c->working_set_extra_s(0, 4, 1), 0);
  t.cluster.devices[0].decode_large_bytes_per_s.by_type[DType::kQ8_0] = 2e9;
  auto faster = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(faster.is_ok());
  EXPECT_DOUBLE_EQ(faster->working_set_extra_s(0, 4, 0), 0);
  // evaluate() charges the device's pass with it.
  const Evaluation ev = evaluate(*c, {0, 0, 0, 1});
  EXPECT_NEAR(ev.compute_s[0], 3 * (c->compute_s(0, 0)) + 3 * all_extra, 1e-9);
  EXPECT_NEAR(ev.compute_s[1], c->compute_s(3, 1), 1e-12);
}

TEST(PlanCost, TheSolversWeighTheLargeWorkingSetRate) {
  LargeShares t;
  auto c = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  // At the probe's rate an even split is best; at the large rate device 0's two segments take
  // 2.75x as long, so it keeps one and device 1 takes three.
  for (Objective o : {Objective::kThroughput, Objective::kLatency}) {
    auto sol = solve(*c, o, PlanOptions{});
    ASSERT_TRUE(sol.is_ok()) << sol.status().to_string();
    if (o == Objective::kThroughput)
      EXPECT_EQ(sol->device_of_segment, (std::vector<int>{0, 1, 1, 1}));
    EXPECT_NEAR(sol->objective_s, evaluate(*c, sol->device_of_segment).objective(o), 1e-12);
  }
}

TEST(PlanCost, AttentionReadsTheKvCacheUpToTheRowsPosition) {
  Tiny t;
  t.run.attn_pos = 0;
  auto at0 = CostModel::build(t.model, t.cluster, t.run);
  t.run.attn_pos = 800;
  auto at800 = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(at0.is_ok() && at800.is_ok());
  for (int s = 0; s < 3; ++s) {
    // 100 B per position, 800 positions, at each device's F32 rate (the fallback, 1e8).
    EXPECT_NEAR(at800->compute_s(s, 1) - at0->compute_s(s, 1), 100.0 * 800 / 1e8, 1e-15);
  }
  // Every row reads its own cache: an extra row (priced with a 4-row rate) pays it too.
  t.cluster.devices[1].decode4_bytes_per_s.fallback = 1e8;
  t.run.attn_pos = 0;
  auto r0 = CostModel::build(t.model, t.cluster, t.run);
  t.run.attn_pos = 800;
  auto r800 = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(r0.is_ok() && r800.is_ok());
  EXPECT_NEAR(r800->extra_row_s(1, 1) - r0->extra_row_s(1, 1), 100.0 * 800 / 1e8, 1e-15);
  for (double bad : {std::nan(""), HUGE_VAL, 1001.0}) {  // the context is 1000
    t.run.attn_pos = bad;
    EXPECT_FALSE(CostModel::build(t.model, t.cluster, t.run).is_ok()) << bad;
  }
}

TEST(PlanCost, EvaluateChargesOneMessagePerDevicePairAndTheReturnHop) {
  Tiny t;
  auto c = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(c.is_ok());
  Evaluation ev = evaluate(*c, {0, 1, 1});
  ASSERT_TRUE(ev.invalid.empty()) << ev.invalid;
  // a -> b carries 0->1 and 0->2 (1500 B, one latency); 1->2 stays on b; b returns 4 B to a.
  // A hop costs its link's mean latency: the tail through median 1 ms and p95 3 ms is
  // shift + Exp(2 ms / ln 10) with the median at shift + mean * ln 2.
  double comp_a = c->compute_s(0, 0), comp_b = c->compute_s(1, 1) + c->compute_s(2, 1);
  double msg = testing::mean_latency(1e-3, 3e-3) + 1500 / 1e6;
  double ret = testing::mean_latency(2e-3, 5e-3) + 4 / 2e6;
  EXPECT_DOUBLE_EQ(ev.latency_s, comp_a + comp_b + msg + ret);
  EXPECT_DOUBLE_EQ(ev.bottleneck_s, std::max({comp_a, comp_b, 1500 / 1e6, 4 / 2e6}));
  ASSERT_EQ(ev.messages.size(), 2u);
  EXPECT_EQ(ev.messages[0].n_edges, 2);
  EXPECT_TRUE(ev.messages[0].sequential);
  EXPECT_TRUE(ev.messages[1].is_return);
  EXPECT_EQ(ev.ring, (std::vector<int>{0, 1}));
  // Charged at the p95 instead, a hop has no tail left.
  CostOptions p95;
  p95.use_p95_latency = true;
  auto c95 = CostModel::build(t.model, t.cluster, t.run, p95);
  ASSERT_TRUE(c95.is_ok());
  EXPECT_DOUBLE_EQ(evaluate(*c95, {0, 1, 1}).latency_s,
                   comp_a + comp_b + 3e-3 + 1500 / 1e6 + 5e-3 + 4 / 2e6);
  EXPECT_TRUE(c95->latency_tail(0, 1).fixed());
}

TEST(PlanCost, StreamsShareWeightReadsInBatchedPasses) {
  Tiny t;
  for (auto& d : t.cluster.devices) {
    d.prefill_flops_per_s.by_type[DType::kQ8_0] = 1e10;
    d.prefill_flops_per_s.fallback = 1e9;
  }
  // Links without jitter: the simulated waves settle into the deterministic bound.
  t.cluster.links[0][1].latency_s_p95 = t.cluster.links[0][1].latency_s_median;
  t.cluster.links[1][0].latency_s_p95 = t.cluster.links[1][0].latency_s_median;
  auto c = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(c.is_ok());
  Evaluation ev = evaluate(*c, {0, 1, 1});
  ASSERT_TRUE(ev.invalid.empty()) << ev.invalid;
  EXPECT_DOUBLE_EQ(tok_s_at_n_seqs(*c, ev, 1), 1 / ev.latency_s);
  // 6 streams on 2 devices: two waves of 3 rows; a row beyond the first costs the prefill time.
  EXPECT_EQ(wave_rows(ev, 6), (std::vector<int>{3, 3}));
  const double rows = 3;
  const double a = ev.compute_s[0] + (rows - 1) * c->prefill_s(0, 0);
  const double b = ev.compute_s[1] + (rows - 1) * (c->prefill_s(1, 1) + c->prefill_s(2, 1));
  double stage = std::max(a, b), cycle = a + b;
  for (const Message& m : ev.messages) {
    stage = std::max(stage, rows * m.serialize_s);
    cycle += m.hop_s + (rows - 1) * m.serialize_s;
  }
  // Bounded by the slowest stage and by the two waves' round trips.
  const double want = std::min(rows / stage, 2 * rows / cycle);
  EXPECT_NEAR(tok_s_at_n_seqs(*c, ev, 6), want, want * 1e-3);
  // Batching helps: more than two single streams, less than six.
  EXPECT_GT(want, 2 / ev.latency_s);
  EXPECT_LT(want, 6 / ev.latency_s);
  // The plan's summary gives the pass each device runs with those streams.
  t.run.n_seqs = 6;
  auto c6 = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(c6.is_ok());
  PlanSummary p = summarize("plan", *c6, t.model, t.cluster, t.run, {0, 1, 1});
  ASSERT_EQ(p.devices.size(), 2u);
  EXPECT_DOUBLE_EQ(p.devices[0].pass_s_at_n_seqs, a);
  EXPECT_DOUBLE_EQ(p.devices[1].pass_s_at_n_seqs, b);
}

TEST(PlanCost, WavesAreFormedAsTheSchedulerFormsThem) {
  Evaluation three;
  three.ring = {0, 1, 2};
  EXPECT_EQ(wave_rows(three, 8), (std::vector<int>{3, 3, 2}));
  EXPECT_EQ(wave_rows(three, 7), (std::vector<int>{3, 3, 1}));
  EXPECT_EQ(wave_rows(three, 4), (std::vector<int>{2, 1, 1}));  // three prompts' waves stay
  EXPECT_EQ(wave_rows(three, 2), (std::vector<int>{1, 1}));
  EXPECT_EQ(wave_rows(three, 1), (std::vector<int>{1}));
  EXPECT_DOUBLE_EQ(rows_per_pass(three, 4), 4 / 3.0);
  EXPECT_DOUBLE_EQ(rows_per_pass(three, 8), 8 / 3.0);
}

// Two devices whose round trip is a little longer than two passes of the slower one: a
// deterministic ring runs at the round-trip bound, a jittery one loses more to waiting than
// the tail's mean latency alone costs.
TEST(PlanCost, LatencyJitterCostsThroughputWhereTheRoundTripBinds) {
  Tiny t;
  for (auto& d : t.cluster.devices) d.decode_bytes_per_s.by_type[DType::kQ8_0] = 1e9;
  auto build = [&](double p95_factor) {
    for (auto& row : t.cluster.links) {
      for (auto& l : row) l = {4e-3, 4e-3 * p95_factor, 1e9};
    }
    return CostModel::build(t.model, t.cluster, t.run);
  };
  auto calm = build(1), jittery = build(3);
  ASSERT_TRUE(calm.is_ok() && jittery.is_ok());
  const Evaluation ev_calm = evaluate(*calm, {0, 1, 1}), ev_jit = evaluate(*jittery, {0, 1, 1});
  const double stage = std::max(ev_calm.compute_s[0], ev_calm.compute_s[1]);
  const double cycle = ev_calm.latency_s;
  const double calm_tok = tok_s_at_n_seqs(*calm, ev_calm, 2);
  const double jit_tok = tok_s_at_n_seqs(*jittery, ev_jit, 2);
  EXPECT_NEAR(calm_tok, std::min(1 / stage, 2 / cycle), 1e-3 * calm_tok);
  // The mean of the tail alone (1.27x the median) would cost less than the waits do.
  const double mean_bound = std::min(1 / stage, 2 / ev_jit.latency_s);
  EXPECT_LT(jit_tok, mean_bound * 0.97);
  EXPECT_GT(jit_tok, mean_bound * 0.6);
  // Seeded: the same layout is always predicted the same.
  EXPECT_EQ(jit_tok, tok_s_at_n_seqs(*jittery, ev_jit, 2));
}

// A device's messages to two devices (here a residual edge across a cut) leave through one
// uplink, one after the other, as the emulator and Wi-Fi send them.
TEST(PlanCost, ADevicesMessagesShareItsUplink) {
  Tiny t;
  t.add_device_c(1, 1e9);
  t.cluster.links[0][1].bandwidth_bytes_per_s = t.cluster.links[0][2].bandwidth_bytes_per_s = 1e4;
  auto c = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(c.is_ok());
  const Evaluation ev = evaluate(*c, {0, 1, 2});
  ASSERT_TRUE(ev.invalid.empty()) << ev.invalid;
  // Device a sends 1000 B to b and 500 B to c each pass: 0.15 s on its uplink, far more than
  // any pass or the 3 waves' round trips, so one row leaves every 0.15 s (0.1 s if the two
  // links were separate wires).
  EXPECT_NEAR(tok_s_at_n_seqs(*c, ev, 3), 1 / 0.15, 0.01 / 0.15);
}

TEST(PlanCost, EvaluateRejectsBrokenAssignments) {
  Tiny t;
  t.add_device_c(0, 1e6);
  auto c = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(c.is_ok());
  EXPECT_FALSE(evaluate(*c, {1, 1, 1}).invalid.empty());  // segment 0 off the head
  EXPECT_FALSE(evaluate(*c, {0, 1, 0}).invalid.empty());  // head used twice
  EXPECT_FALSE(evaluate(*c, {0, 1}).invalid.empty());     // wrong length
  EXPECT_TRUE(evaluate(*c, {0, 2, 1}).invalid.empty());   // any order of the others is fine
}

TEST(PlanCost, MemoryOverBudgetIsReported) {
  Tiny t;
  t.run.mem_safety = 0.2;  // 2 MB usable: one segment needs 2.4 MB
  auto c = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_TRUE(c.is_ok());
  EXPECT_FALSE(evaluate(*c, {0, 1, 1}).memory_ok);
}

TEST(PlanCost, InvalidInputsNameTheField) {
  Tiny t;
  t.model.segments[1].edges = {{1, 10}};
  auto c = CostModel::build(t.model, t.cluster, t.run);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("segments[1]"), std::string::npos);

  Tiny u;
  u.cluster.devices[1].decode_bytes_per_s.fallback = 0;  // no rate for F32 on device 1
  c = CostModel::build(u.model, u.cluster, u.run);
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("devices[1].decode: no rate for F32"), std::string::npos)
      << c.status().message();

  Tiny v;
  v.cluster.devices[0].head = v.cluster.devices[1].head = true;
  EXPECT_FALSE(CostModel::build(v.model, v.cluster, v.run).is_ok());
}

}  // namespace
}  // namespace ll::plan
