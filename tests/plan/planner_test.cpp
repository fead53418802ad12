// Baselines, overlap, infeasibility messages, method dispatch and the order heuristic.
#include <gtest/gtest.h>

#include "plan/planner.h"
#include "plan_test_util.h"

namespace ll::plan {
namespace {

// S equal segments of 100 MB; devices with the given budgets (MB) and decode GB/s.
testing::Instance uniform(int S, std::vector<double> budget_mb, std::vector<double> gbs) {
  testing::Instance in;
  in.model.name = "uniform";
  for (int s = 0; s < S; ++s) {
    Segment g;
    g.label = "L" + std::to_string(s);
    g.layer_first = g.layer_last = s;
    g.weight_bytes_by_type[DType::kQ8_0] = 1e8;
    g.weight_bytes_resident = 1e8;
    if (s + 1 < S) g.edges.push_back({s + 1, 8192});
    in.model.segments.push_back(g);
  }
  for (size_t d = 0; d < budget_mb.size(); ++d) {
    DeviceProfile p;
    p.name = "d" + std::to_string(d);
    p.mem_budget_bytes = budget_mb[d] * 1e6;
    p.decode_bytes_per_s.fallback = gbs[d] * 1e9;
    in.cluster.devices.push_back(p);
  }
  const size_t D = budget_mb.size();
  in.cluster.links.assign(D, std::vector<LinkProfile>(D, {1e-3, 2e-3, 1e7}));
  in.run.ctx = 0;
  in.run.mem_safety = 1.0;
  return in;
}

std::vector<int> counts(const std::vector<int>& dev, int D) {
  std::vector<int> c(D, 0);
  for (int d : dev) c[d]++;
  return c;
}

TEST(PlanBaselines, EvenAndMemorySplits) {
  auto in = uniform(10, {1000, 2000, 1000}, {1, 1, 1});
  auto cost = CostModel::build(in.model, in.cluster, in.run);
  ASSERT_TRUE(cost.is_ok());
  EXPECT_EQ(baseline_even(*cost), (std::vector<int>{0, 0, 0, 0, 1, 1, 1, 2, 2, 2}));
  auto mem = baseline_memory(*cost);
  EXPECT_EQ(counts(mem, 3), (std::vector<int>{3, 5, 2}));  // 2.5 : 5 : 2.5, rounded
  EXPECT_TRUE(evaluate(*cost, mem).invalid.empty());
}

TEST(PlanBaselines, HeadGoesFirstAndOverBudgetIsReported) {
  auto in = uniform(6, {150, 1000, 1000}, {1, 1, 1});
  in.cluster.devices[2].head = true;
  PlanOptions o;
  auto r = make_plan(in.model, in.cluster, in.run, o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const PlanSummary& even = r->baselines[0];
  EXPECT_EQ(even.name, "even");
  EXPECT_EQ(even.device_of_segment[0], 2);
  EXPECT_FALSE(even.memory_ok);  // d0 gets two 100 MB segments on a 150 MB budget
  EXPECT_NE(even.memory_note.find("d0 needs"), std::string::npos) << even.memory_note;
  EXPECT_TRUE(r->plan.memory_ok);
}

TEST(PlanOverlap, PreloadsBoundarySegmentsWithinSpareMemory) {
  auto in = uniform(12, {450, 650, 1000}, {1, 1, 1});
  auto cost = CostModel::build(in.model, in.cluster, in.run);
  ASSERT_TRUE(cost.is_ok());
  std::vector<int> dev{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2};
  auto ov = plan_overlap(*cost, in.model, dev, 3);
  std::vector<double> extra(3, 0);
  for (const OverlapEntry& e : ov) {
    EXPECT_NE(e.segment, 0);
    EXPECT_NE(e.owner, e.preload_on);
    EXPECT_EQ(dev[e.segment], e.owner);
    EXPECT_EQ(std::abs(e.owner - e.preload_on), 1);  // neighbours in the ring
    extra[e.preload_on] += e.bytes;
  }
  Evaluation ev = evaluate(*cost, dev);
  for (int d = 0; d < 3; ++d) EXPECT_LE(ev.mem_bytes[d] + extra[d], cost->budget(d) + 1);
  // d0 has 50 MB spare: nothing fits; d1 has 250 MB: two segments; d2 600 MB: three.
  EXPECT_EQ(extra[0], 0);
  EXPECT_EQ(extra[1], 2e8);
  EXPECT_EQ(extra[2], 3e8);
  // d1 preloads from both sides, alternating, starting nearest the boundary.
  ASSERT_GE(ov.size(), 2u);
  EXPECT_EQ(ov[0].segment, 3);
  EXPECT_EQ(ov[0].preload_on, 1);
}

TEST(PlanErrors, InfeasibleModelSaysHowMuchIsMissingAndWhere) {
  auto in = uniform(8, {300, 200, 250}, {1, 1, 1});
  in.model.segments[5].weight_bytes_resident = 2.8e8;
  auto r = make_plan(in.model, in.cluster, in.run);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfMemory);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("short by"), std::string::npos) << m;
  EXPECT_NE(m.find("largest segment L5"), std::string::npos) << m;
  EXPECT_NE(m.find("fits only on d0"), std::string::npos) << m;
}

TEST(PlanErrors, HeadTooSmallForSegmentZero) {
  auto in = uniform(4, {50, 1000, 1000}, {1, 1, 1});
  auto r = make_plan(in.model, in.cluster, in.run);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("must sit on head 'd0'"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("no contiguous split"), std::string::npos);
}

TEST(PlanSolve, MethodsAgreeAndUnusedDevicesAreLeftOut) {
  // d2 is so slow that using it only hurts single-stream latency.
  auto in = uniform(8, {500, 500, 1000}, {20, 20, 0.1});
  for (Method m : {Method::kAuto, Method::kDp, Method::kMilp}) {
    if (m == Method::kMilp && !milp_available()) continue;
    PlanOptions o;
    o.method = m;
    o.objective = Objective::kLatency;
    auto r = make_plan(in.model, in.cluster, in.run, o);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->plan.unused_devices, std::vector<std::string>{"d2"}) << method_name(m);
    EXPECT_TRUE(r->solution.proven_optimal);
    EXPECT_EQ(counts(r->plan.device_of_segment, 3)[2], 0);
  }
}

TEST(PlanSolve, ManyStreamsOverSlowLinksTakeFewerHops) {
  // Six 5 ms segments, three devices that hold three each, 20 ms links. The bottleneck plan
  // spreads them 2/2/2 (10 ms stages); with 8 streams the round trips bind: 3 hops + 30 ms
  // of compute per wave (8 / 90 ms) against 2 hops on two devices (8 / 70 ms).
  auto in = uniform(6, {350, 350, 350}, {20, 20, 20});
  for (auto& row : in.cluster.links) row.assign(3, {20e-3, 30e-3, 1e9});
  for (DeviceProfile& d : in.cluster.devices) {  // a row beyond the first costs nothing
    d.decode4_bytes_per_s.fallback = 4 * d.decode_bytes_per_s.fallback;
  }
  PlanOptions o;
  o.objective = Objective::kThroughput;
  auto one = make_plan(in.model, in.cluster, in.run, o);
  ASSERT_TRUE(one.is_ok()) << one.status().to_string();
  EXPECT_TRUE(one->plan.unused_devices.empty());  // one stream: the pipeline's bottleneck
  in.run.n_seqs = 8;
  auto eight = make_plan(in.model, in.cluster, in.run, o);
  ASSERT_TRUE(eight.is_ok()) << eight.status().to_string();
  EXPECT_EQ(eight->plan.unused_devices.size(), 1u);
  CostModel cost = CostModel::build(in.model, in.cluster, in.run).value();
  const double tok_spread = tok_s_at_n_seqs(cost, evaluate(cost, one->plan.device_of_segment), 8);
  EXPECT_GT(eight->plan.pipelined_tok_s_at_n_seqs, tok_spread * 1.2);
  EXPECT_NE(eight->solution.note.find("latency plan"), std::string::npos)
      << eight->solution.note << " " << eight->solution.method << " " << one->solution.note;
}

TEST(PlanSolve, OrderHeuristicStaysCloseToExactOnEightDevices) {
  std::mt19937_64 rng(99);
  testing::InstanceShape shape;
  shape.min_seg = shape.max_seg = 24;
  shape.min_dev = shape.max_dev = 8;
  shape.residual_p = 0.05;
  shape.max_residual_span = 3;
  double worst = 1;
  int n = 0;
  for (int i = 0; i < 20; ++i) {
    auto in = testing::random_instance(rng, shape);
    auto cost = CostModel::build(in.model, in.cluster, in.run);
    ASSERT_TRUE(cost.is_ok());
    for (Objective obj : {Objective::kLatency, Objective::kThroughput}) {
      auto exact = solve_dp_exact(*cost, obj);
      DpOptions o;
      o.max_exact_work = 0;  // force the order search
      o.time_limit_s = 0.2;
      auto heur = solve_dp(*cost, obj, o);
      if (!exact.is_ok()) continue;
      ASSERT_TRUE(heur.is_ok()) << heur.status().to_string();
      EXPECT_FALSE(heur->proven_optimal);
      EXPECT_GE(heur->objective_s, exact->objective_s * (1 - 1e-9));
      worst = std::max(worst, heur->objective_s / exact->objective_s);
      ++n;
    }
  }
  std::printf("order heuristic vs exact on %d cases: worst ratio %.4f\n", n, worst);
  EXPECT_GT(n, 10);
  EXPECT_LT(worst, 1.15);
}

}  // namespace
}  // namespace ll::plan
