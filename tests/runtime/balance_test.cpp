// Load balancing: moves of work between devices while sequences generate change no token, and
// the policy neither ignores a real slowdown nor flaps on noise.
#include <gtest/gtest.h>

#include <future>
#include <random>

#include "net_fixture.h"
#include "runtime/balance_policy.h"
#include "runtime/scheduler.h"

namespace ll::runtime {
namespace {

using testing::Fixture;

TEST(BalancePolicy, MovesOnlyAfterAWholeWindowAndNotDuringTheCooldown) {
  BalancePolicy p;  // margin 15 %, window 2 s or 32 passes, cooldown 10 s
  EXPECT_FALSE(p.should_move(0.0, 0, 100, 110));   // within the margin
  EXPECT_FALSE(p.should_move(0.5, 10, 100, 130));  // better: the window starts
  EXPECT_FALSE(p.should_move(2.0, 30, 100, 130));  // 1.5 s and 20 passes: too short
  EXPECT_FALSE(p.should_move(2.4, 35, 100, 112));  // dipped under the margin: restart
  EXPECT_FALSE(p.should_move(2.5, 40, 100, 130));
  EXPECT_FALSE(p.should_move(3.0, 60, 100, 130));  // 0.5 s and 20 passes
  EXPECT_TRUE(p.should_move(3.1, 72, 100, 130));   // 32 passes, before 2 s (fast passes)
  p.moved(3.1);
  EXPECT_FALSE(p.should_move(5.0, 80, 100, 140));
  EXPECT_FALSE(p.should_move(8.0, 400, 100, 140));  // window done, cooldown not
  EXPECT_TRUE(p.should_move(13.2, 900, 100, 140));  // 10 s after the move
  p.moved(13.2);
  EXPECT_FALSE(p.should_move(23.5, 901, 100, 140));  // slow passes: the window starts
  EXPECT_FALSE(p.should_move(25.0, 904, 100, 140));  // 1.5 s and 3 passes
  EXPECT_TRUE(p.should_move(25.5, 905, 100, 140));   // 2 s, whatever the passes
}

TEST(BalancePolicy, AMuchBetterLayoutForAWholeWindowMovesDuringTheCooldown) {
  BalancePolicy p;  // cooldown 10 s unless the best is 50 % better for a window
  p.moved(0.0);
  EXPECT_FALSE(p.should_move(1.0, 10, 100, 160));  // the window starts
  EXPECT_FALSE(p.should_move(2.5, 20, 100, 145));  // 45 %: only the plain window goes on
  EXPECT_FALSE(p.should_move(3.0, 25, 100, 160));  // 50 % again: its window restarts
  EXPECT_FALSE(p.should_move(4.9, 40, 100, 160));
  EXPECT_TRUE(p.should_move(5.0, 45, 100, 160));  // 2 s at 50 %, 5 s after the move
  p.moved(5.0);
  EXPECT_FALSE(p.should_move(5.5, 50, 100, 300));
  EXPECT_FALSE(p.should_move(6.0, 55, 100, 100));  // no longer better: both windows end
  EXPECT_FALSE(p.should_move(7.9, 70, 100, 300));
  EXPECT_TRUE(p.should_move(9.9, 90, 100, 300));
}

TEST(BalancePolicy, AnAbandonedMoveHoldsForAWholeCooldown) {
  BalancePolicy p;
  p.abandoned(0.0);
  EXPECT_FALSE(p.should_move(1.0, 10, 100, 300));
  EXPECT_FALSE(p.should_move(5.0, 500, 100, 300));  // 50 % better for 4 s: still held
  EXPECT_FALSE(p.should_move(9.9, 900, 100, 300));
  EXPECT_TRUE(p.should_move(10.0, 901, 100, 300));
}

TEST(BalancePolicy, TheOverrideWaitsAWindowAfterTheMove) {
  BalancePolicy p;
  p.moved(0.0);
  EXPECT_FALSE(p.should_move(0.5, 10, 100, 300));
  EXPECT_FALSE(p.should_move(1.0, 100, 100, 300));  // 90 passes: a window of passes, not 2 s
  EXPECT_TRUE(p.should_move(2.0, 110, 100, 300));
}

// Three equal devices whose measured speed jitters by +-20 % per measurement, with no real
// change: the live speeds (the same EWMA the ring keeps) never justify a move for long, so at
// most one move happens in 60 s. A real drop to 0.3 does move within a few seconds.
int moves_in_60s(double drop_at_s, uint32_t seed) {
  BalanceOptions o;
  BalancePolicy p(o);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  double slow[3] = {1, 1, 1};  // live slowdown per device
  double work[3] = {1, 1, 1};  // share of the model on each device
  int moves = 0;
  uint64_t passes = 0;
  for (double t = 0; t < 60; t += o.tick_s) {
    passes += 40;
    for (int d = 0; d < 3; ++d) {
      const double truth = t >= drop_at_s && d == 2 ? 1 / 0.3 : 1.0;
      slow[d] = o.ewma_alpha * truth * jitter(rng) + (1 - o.ewma_alpha) * slow[d];
    }
    double bottleneck = 0, inv = 0;
    for (int d = 0; d < 3; ++d) {
      bottleneck = std::max(bottleneck, work[d] * slow[d]);
      inv += 1 / slow[d];
    }
    const double best = 3 / inv;  // work in proportion to speed
    if (p.should_move(t, passes, 1 / bottleneck, 1 / best)) {
      ++moves;
      p.moved(t);
      for (int d = 0; d < 3; ++d) work[d] = 3 / slow[d] / inv;
    }
  }
  return moves;
}

TEST(BalancePolicy, JitterWithoutRealChangeMovesAtMostOnceAMinute) {
  for (uint32_t seed = 1; seed <= 50; ++seed) EXPECT_LE(moves_in_60s(1e9, seed), 1) << seed;
}

TEST(BalancePolicy, ARealSlowdownMoves) {
  for (uint32_t seed = 1; seed <= 20; ++seed) EXPECT_GE(moves_in_60s(10, seed), 1) << seed;
}

// Eight sequences (greedy and seeded; prompts {1, base + i, 5}, 30 tokens) generate through the
// scheduler while each of `moves` is requested once its count of tokens has come; every text
// must equal the same request's alone on the ring before any move.
void expect_moves_change_no_token(NetRing& ring, int32_t base, uint64_t seed0,
                                  const std::vector<std::pair<int, RingLayout>>& moves) {
  const int n_predict = 30;
  std::vector<std::vector<int32_t>> want;
  std::vector<model::SamplerParams> sampling;
  for (int i = 0; i < 8; ++i) {
    model::SamplerParams sp;
    sp.temp = i % 2 ? 0.8f : 0;
    sp.seed = seed0 + i;
    sampling.push_back(sp);
    auto g = generate_on_ring(ring, {1, base + i, 5}, n_predict, sp, nullptr, nullptr, 30);
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    want.push_back(g->tokens);
  }
  SchedulerOptions so;
  so.max_seqs = 8;  // n_devices 0: the waves follow the ring through its moves
  Scheduler sched(ring, so);
  std::vector<std::vector<int32_t>> got(8);
  std::vector<std::promise<std::string>> done(8);
  std::atomic<int> total{0};
  for (int i = 0; i < 8; ++i) {
    GenRequest g;
    g.prompt = {1, base + i, 5};
    g.sampling = sampling[i];
    g.n_predict = n_predict;
    g.on_token = [&, i](int32_t t) {
      got[i].push_back(t);
      const int n = ++total;
      for (const auto& [at, layout] : moves)
        if (n == at) ring.request_move(layout, "test");
      return true;
    };
    g.on_done = [&done, i](const Status& st, const std::string& why) {
      done[i].set_value(st.is_ok() ? why : st.to_string());
    };
    ASSERT_TRUE(sched.submit(std::move(g)).is_ok());
  }
  for (int i = 0; i < 8; ++i) {
    auto fut = done[i].get_future();
    ASSERT_EQ(fut.wait_for(std::chrono::seconds(120)), std::future_status::ready);
    EXPECT_EQ(fut.get(), "length");
    EXPECT_EQ(got[i], want[i]) << "sequence " << i;
  }
  EXPECT_EQ(ring.live_devices(), ring.n_devices());
}

TEST(Balance, ForcedMovesWhileEightSequencesGenerateChangeNoToken) {
  Fixture f(2);
  auto ring = f.ring({4, 10}, 8);
  ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
  // Moves at token 40 (a boundary inside a layer) and at token 120 (work off device 2).
  auto first = (*ring)->layout_from_cuts({7, 9});
  auto second = (*ring)->layout_from_cuts({3, 13});
  ASSERT_TRUE(first.is_ok() && second.is_ok());
  expect_moves_change_no_token(**ring, 20, 7, {{40, *first}, {120, *second}});
  const RingHealth h = (*ring)->health();
  EXPECT_EQ(h.moves, 2u);
  EXPECT_EQ((*ring)->layout().cuts(), (std::vector<int>{3, 13}));
  ASSERT_EQ(h.move_log.size(), 2u);
  EXPECT_NE(h.move_log[0].text.find("moved"), std::string::npos) << h.move_log[0].text;
}

// Eight greedy and seeded sequences generate while the ring moves to `cuts` once `at` tokens
// have come; every text must equal the same request's without a move. Returns the health.
RingHealth generate_through_a_move(const std::vector<int>& cuts, int at, HeadOptions o) {
  Fixture f(2);
  auto ring = f.ring({4, 10}, 8, o);
  EXPECT_TRUE(ring.is_ok()) << ring.status().to_string();
  if (!ring.is_ok()) return {};
  auto layout = (*ring)->layout_from_cuts(cuts);
  EXPECT_TRUE(layout.is_ok());
  if (!layout.is_ok()) return {};
  expect_moves_change_no_token(**ring, 30, 11, {{at, *layout}});
  EXPECT_EQ((*ring)->layout().cuts(), cuts);
  return (*ring)->health();
}

// A move that leaves a device out: the scheduler's waves shrink with the ring, and no token
// changes.
TEST(Balance, AMoveToFewerDevicesShrinksTheWavesAndChangesNoToken) {
  const RingHealth h = generate_through_a_move({9}, 60, HeadOptions{});
  ASSERT_EQ(h.move_log.size(), 1u);
  int up = 0;
  for (const DeviceHealth& d : h.devices) up += d.state == "up";
  EXPECT_EQ(up, 2) << "the third device left the ring";
}

// The synthetic model's ops: 0 the embedding, 1-9 layer 0's attention block (its attention op
// is 7), 10-15 its MLP, 16-24 layer 1's attention block (attention op 22), 25-33 the rest.
// From cuts {4, 10} to {8, 23} every device's range changes and both attention layers change
// owner: their KV rows travel (worker to head, worker to worker), nothing is replayed, and no
// token changes.
TEST(Balance, AMoveCarriesTheKvRowsAndReplaysNothing) {
  const RingHealth h = generate_through_a_move({8, 23}, 60, HeadOptions{});
  ASSERT_EQ(h.move_log.size(), 1u);
  const MoveRecord& m = h.move_log[0];
  EXPECT_EQ(m.mode, "kv") << m.text;
  EXPECT_EQ(m.n_rows, 0u) << m.text;
  EXPECT_EQ(m.n_seqs, 8) << m.text;
  EXPECT_GT(m.kv_bytes, 0u) << m.text;
  EXPECT_NE(m.text.find("moved KV rows of 8 sequences"), std::string::npos) << m.text;
  EXPECT_EQ(m.n_prepared, 2) << m.text;  // both workers built their new share before the switch
  // The rows computed before the switch went ahead while serving went on (pre-copy): the
  // switch moved only the rows fed since, less than the whole rows.
  EXPECT_GT(m.precopy_bytes, 0u) << m.text;
  EXPECT_LT(m.kv_bytes, m.kv_full_bytes) << m.text;
  EXPECT_EQ(m.precopy_fresh, 0) << m.text;
  EXPECT_EQ(m.precopy_ended, 0) << m.text;
}

// Without the pre-copy the switch moves the whole rows (and tokens are the same).
TEST(Balance, WithoutPrecopyTheSwitchMovesTheWholeRows) {
  HeadOptions o;
  o.kv_precopy = false;
  const RingHealth h = generate_through_a_move({8, 23}, 60, o);
  ASSERT_EQ(h.move_log.size(), 1u);
  const MoveRecord& m = h.move_log[0];
  EXPECT_EQ(m.mode, "kv") << m.text;
  EXPECT_EQ(m.precopy_bytes, 0u) << m.text;
  EXPECT_GT(m.kv_bytes, 0u) << m.text;
  EXPECT_EQ(m.kv_bytes, m.kv_full_bytes) << m.text;
  EXPECT_EQ(m.precopy_fresh, 8) << m.text;
}

// Between the pre-copy and the switch (held by the test hook while serving goes on) one
// sequence ends and a queued request starts in its KV slot: the ended one's pre-copied rows
// are dropped, the new one's rows move whole at the switch, nothing is replayed, and every
// text equals the same request's without a move (the ended one's is a prefix of it).
TEST(Balance, ASequenceEndingAndOneStartingBetweenPrecopyAndSwitchChangeNoToken) {
  // Request 0 is long, so it is still generating whenever the pre-copy ends (its end comes
  // from the hook, not from its length, however loaded the machine).
  const int n_predict = 40, n_predict_0 = 120, n_req = 9;
  std::atomic<bool> precopied{false}, stopped{false};
  std::atomic<int> new_tokens{0};
  HeadOptions o;
  o.before_switch_for_test = [&] {
    precopied = true;
    return stopped && new_tokens >= 2;
  };
  Fixture f(2);
  auto ring = f.ring({4, 10}, 8, o);
  ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
  auto layout = (*ring)->layout_from_cuts({8, 23});
  ASSERT_TRUE(layout.is_ok());
  std::vector<std::vector<int32_t>> want;
  std::vector<model::SamplerParams> sampling;
  for (int i = 0; i < n_req; ++i) {
    model::SamplerParams sp;
    sp.temp = i % 2 ? 0.8f : 0;
    sp.seed = 50 + i;
    sampling.push_back(sp);
    auto g = generate_on_ring(**ring, {1, 60 + i, 5}, i == 0 ? n_predict_0 : n_predict, sp, nullptr,
                              nullptr, 30);
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    want.push_back(g->tokens);
  }
  SchedulerOptions so;
  so.max_seqs = 8;
  so.n_devices = 3;
  Scheduler sched(**ring, so);
  std::vector<std::vector<int32_t>> got(n_req);
  std::vector<std::promise<std::string>> done(n_req);
  std::atomic<int> total{0};
  for (int i = 0; i < n_req; ++i) {
    GenRequest g;
    g.prompt = {1, 60 + i, 5};
    g.sampling = sampling[i];
    g.n_predict = i == 0 ? n_predict_0 : n_predict;
    g.on_token = [&, i](int32_t t) {
      got[i].push_back(t);
      if (++total == 40) (*ring)->request_move(*layout, "test");
      if (i == n_req - 1) ++new_tokens;
      if (i == 0 && precopied && !stopped) {  // ends now: its slot goes to the queued request
        stopped = true;
        return false;
      }
      return true;
    };
    g.on_done = [&done, i](const Status& st, const std::string& why) {
      done[i].set_value(st.is_ok() ? why : why + ": " + st.to_string());
    };
    ASSERT_TRUE(sched.submit(std::move(g)).is_ok());
  }
  for (int i = 0; i < n_req; ++i) {
    auto fut = done[i].get_future();
    ASSERT_EQ(fut.wait_for(std::chrono::seconds(120)), std::future_status::ready);
    const std::string why = fut.get();
    if (i == 0) {
      EXPECT_EQ(why.rfind("cancelled", 0), 0u) << why;
      ASSERT_LT(got[0].size(), want[0].size());
      EXPECT_EQ(got[0], std::vector<int32_t>(want[0].begin(), want[0].begin() + got[0].size()));
    } else {
      EXPECT_EQ(why, "length") << "request " << i;
      EXPECT_EQ(got[i], want[i]) << "request " << i;
    }
  }
  const RingHealth h = (*ring)->health();
  ASSERT_EQ(h.move_log.size(), 1u);
  const MoveRecord& m = h.move_log[0];
  EXPECT_TRUE(stopped);
  EXPECT_EQ(m.mode, "kv") << m.text;
  EXPECT_EQ(m.n_rows, 0u) << m.text;
  EXPECT_GT(m.precopy_bytes, 0u) << m.text;
  EXPECT_EQ(m.precopy_ended, 1) << m.text;  // request 0's sequence
  EXPECT_EQ(m.precopy_fresh, 1) << m.text;  // request 8's, in request 0's slot
  EXPECT_LT(m.kv_bytes, m.kv_full_bytes) << m.text;
  EXPECT_EQ((*ring)->layout().cuts(), (std::vector<int>{8, 23}));
}

// Only worker 1's range changes (ops 4-9 -> 3-9, layer 0's attention stays on it): worker 2
// keeps its deployment, nothing travels and nothing is replayed.
TEST(Balance, AWorkerWhoseRangeStaysKeepsItsDeployment) {
  const RingHealth h = generate_through_a_move({3, 10}, 60, HeadOptions{});
  ASSERT_EQ(h.move_log.size(), 1u);
  const MoveRecord& m = h.move_log[0];
  EXPECT_EQ(m.mode, "kv") << m.text;
  EXPECT_EQ(m.n_kept, 1) << m.text;
  EXPECT_EQ(m.n_prepared, 1) << m.text;
  EXPECT_EQ(m.kv_bytes, 0u) << m.text;
  EXPECT_EQ(m.n_rows, 0u) << m.text;
}

// A device that keeps its op range keeps its deployment; only the moved layer's rows travel.
TEST(Balance, AMoveBetweenTwoWorkersKeepsTheHead) {
  const RingHealth h = generate_through_a_move({4, 23}, 60, HeadOptions{});
  ASSERT_EQ(h.move_log.size(), 1u);
  EXPECT_EQ(h.move_log[0].mode, "kv") << h.move_log[0].text;
  EXPECT_EQ(h.move_log[0].n_rows, 0u);
  EXPECT_GT(h.move_log[0].kv_bytes, 0u);
}

// The receiver refuses the moved rows (a layer it does not run): the move replays every live
// sequence instead, and still no token changes.
TEST(Balance, AFailedKvTransferFallsBackToReplay) {
  HeadOptions o;
  o.kv_fault_for_test = true;
  const RingHealth h = generate_through_a_move({8, 23}, 60, o);
  ASSERT_EQ(h.move_log.size(), 1u);
  const MoveRecord& m = h.move_log[0];
  EXPECT_EQ(m.mode, "replay") << m.text;
  EXPECT_GT(m.n_rows, 0u) << m.text;
  EXPECT_NE(m.text.find("moving KV rows failed"), std::string::npos) << m.text;
}

// With KV moves off, every move replays (the fallback path on its own).
TEST(Balance, KvMovesOffReplays) {
  HeadOptions o;
  o.kv_moves = false;
  const RingHealth h = generate_through_a_move({7, 9}, 60, o);
  ASSERT_EQ(h.move_log.size(), 1u);
  EXPECT_EQ(h.move_log[0].mode, "replay");
  EXPECT_GT(h.move_log[0].n_rows, 0u);
}

// Workers without the model file, a 4-layer model whose fine segments start at ops 0, 1, 10,
// 16, 25, 31, 40, 46, 55 and 61 (64 ops). From cuts {16, 40}, the overlap plan preloads two
// segments per side of each boundary: worker 1 holds ops 1-54, worker 2 ops 25-63. The move
// to {16, 25} stays within them (layer 2 goes to worker 2 with its KV rows) and ships no weights;
// the move to {55, 61} goes beyond worker 1's and ships its new share. No token changes either way.
std::vector<MoveRecord> moves_within_and_beyond_the_preload(bool preload) {
  model::SynthSpec spec;
  spec.n_layer = 4;
  Fixture f(2, spec, /*own_model=*/false);
  HeadOptions o;
  o.preload = preload;
  auto ring = f.ring({16, 40}, 8, o);
  EXPECT_TRUE(ring.is_ok()) << ring.status().to_string();
  if (!ring.is_ok()) return {};
  EXPECT_GT((*ring)->weight_bytes_sent(), 0u);  // the first deploy shipped the shares
  auto within = (*ring)->layout_from_cuts({16, 25});
  auto beyond = (*ring)->layout_from_cuts({55, 61});
  EXPECT_TRUE(within.is_ok() && beyond.is_ok());
  if (!within.is_ok() || !beyond.is_ok()) return {};
  expect_moves_change_no_token(**ring, 40, 3, {{40, *within}, {120, *beyond}});
  EXPECT_EQ((*ring)->layout().cuts(), (std::vector<int>{55, 61}));
  const RingHealth h = (*ring)->health();
  for (const MoveRecord& m : h.move_log) EXPECT_EQ(m.mode, "kv") << m.text;
  return h.move_log;
}

TEST(Balance, AMoveWithinThePreloadedSegmentsShipsNoWeights) {
  const std::vector<MoveRecord> moves = moves_within_and_beyond_the_preload(true);
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[0].weight_bytes, 0u) << moves[0].text;
  EXPECT_GT(moves[1].weight_bytes, 0u) << moves[1].text;
  EXPECT_NE(moves[1].text.find("of weights first"), std::string::npos) << moves[1].text;
}

// The same moves without preloading: the first one ships too.
TEST(Balance, WithoutPreloadingEveryMoveShipsWeights) {
  const std::vector<MoveRecord> moves = moves_within_and_beyond_the_preload(false);
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_GT(moves[0].weight_bytes, 0u) << moves[0].text;
  EXPECT_GT(moves[1].weight_bytes, 0u) << moves[1].text;
}

}  // namespace
}  // namespace ll::runtime
