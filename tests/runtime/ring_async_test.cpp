// The restructured runtime under reordering and faults: the asynchronous LocalRing (a thread
// per device, random delivery delays within per-pair FIFO), stale epochs, a killed device, the
// sequence table, per-layer KV export/import, and a fake clock.
#include <gtest/gtest.h>

#include <future>
#include <random>

#include "graph/kv_cache.h"
#include "model/engine.h"
#include "model/generate.h"
#include "model/synth.h"
#include "runtime/local_ring.h"
#include "runtime/replay_log.h"
#include "runtime/scheduler.h"
#include "temp_dir.h"

namespace ll::runtime {
namespace {

constexpr int kCtx = 96;

const model::Model& synth_model() {
  static std::unique_ptr<model::Model> m = [] {
    model::SynthSpec spec;
    spec.type = DType::kQ8_0;
    const std::string path = ll::testing::temp_path("ring_async.gguf");
    EXPECT_TRUE(model::write_synth(spec, path).is_ok());
    return model::Model::load(path).value();
  }();
  return *m;
}

model::SamplerParams sampling_for(int i) {
  model::SamplerParams sp;
  sp.temp = i % 2 == 0 ? 0.0f : 0.9f;  // greedy and seeded
  sp.seed = 100 + i;
  sp.repeat_penalty = 1.1f;
  return sp;
}

std::vector<int32_t> prompt_for(int i) {
  std::vector<int32_t> p = {1};
  for (int k = 0; k < 2 + i % 7; ++k) p.push_back(3 + (i * 37 + k * 11) % 500);
  return p;
}

std::vector<int32_t> alone(const std::vector<int32_t>& prompt, int n,
                           const model::SamplerParams& sp) {
  auto e = model::Engine::create(synth_model(), 1, kCtx);
  model::Sampler s(sp);
  return model::generate(**e, prompt, n, s, nullptr)->tokens;
}

std::unique_ptr<LocalRing> make_ring(const std::vector<int>& cuts, int max_seqs,
                                     LocalRingOptions o) {
  const graph::Graph& g = synth_model().graph;
  auto seg = graph::segment_at(g, cuts);
  EXPECT_TRUE(seg.is_ok());
  auto r = LocalRing::create(g, *seg, *synth_model().weights, kCtx, max_seqs, {1}, o);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return std::move(r).value();
}

struct Outcome {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::string> done;
};

// Submits n requests to a scheduler on `ring` and waits (with a deadline) for all of them.
Outcome run_requests(Ring& ring, int n, int n_predict, int n_devices, int chunk,
                     const std::function<void(int, int32_t)>& on_token = nullptr) {
  SchedulerOptions so;
  so.max_seqs = n;
  so.n_devices = n_devices;
  so.prefill_chunk = chunk;
  so.ring_timeout_s = 20;
  Scheduler sched(ring, so);
  Outcome out;
  out.tokens.resize(n);
  out.done.resize(n);
  std::vector<std::promise<std::string>> done(n);
  for (int i = 0; i < n; ++i) {
    GenRequest r;
    r.prompt = prompt_for(i);
    r.n_predict = n_predict;
    r.sampling = sampling_for(i);
    r.on_token = [&out, &on_token, i](int32_t t) {
      out.tokens[i].push_back(t);
      if (on_token) on_token(i, t);
      return true;
    };
    r.on_done = [&done, i](const Status& st, const std::string& reason) {
      done[i].set_value(st.is_ok() ? reason : st.to_string());
    };
    EXPECT_TRUE(sched.submit(std::move(r)).is_ok());
  }
  for (int i = 0; i < n; ++i) {
    auto f = done[i].get_future();
    if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      ADD_FAILURE() << "request " << i << " did not finish within 30 s";
      std::abort();  // the scheduler would call into a destroyed promise
    }
    out.done[i] = f.get();
  }
  return out;
}

TEST(RingAsync, SixteenSequencesWithRandomDelaysMatchAloneOver100Seeds) {
  const int n = 16, n_predict = 6;
  std::vector<std::vector<int32_t>> want;
  for (int i = 0; i < n; ++i) want.push_back(alone(prompt_for(i), n_predict, sampling_for(i)));
  const int n_nodes = static_cast<int>(synth_model().graph.nodes.size());
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    std::mt19937 rng(static_cast<uint32_t>(seed));
    // Three devices, cut anywhere (inside layers too, so residual links skip a device).
    int a = 1 + rng() % (n_nodes - 2), b = 1 + rng() % (n_nodes - 2);
    if (a == b) b = a + 1;
    LocalRingOptions o;
    o.async = true;
    o.max_delay_s = 200e-6;
    o.seed = seed;
    auto ring = make_ring({std::min(a, b), std::max(a, b)}, n, o);
    Outcome got = run_requests(*ring, n, n_predict, 3, 1 + seed % 4);
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(got.done[i], "length") << "seed " << seed << " request " << i;
      ASSERT_EQ(got.tokens[i], want[i]) << "seed " << seed << " request " << i;
    }
    EXPECT_EQ(ring->sequences().size(), 0u);
  }
}

// A pass of an older deployment that can never complete must be dropped, not wait forever
// and hold up the sequence that reuses its id.
TEST(RingAsync, StaleEpochPassIsDroppedNotBlocking) {
  const graph::Graph& g = synth_model().graph;
  // A cut where device 1 needs two tensors, so one of them makes an incomplete pass.
  int cut = -1, tensor = -1;
  for (int c = 1; c < static_cast<int>(g.nodes.size()) && cut < 0; ++c) {
    auto seg = graph::segment_at(g, {c});
    const graph::TransmissionMap map = graph::build_map(g, *seg);
    if (map.inputs[1].size() >= 2) cut = c, tensor = map.inputs[1][0];
  }
  ASSERT_GE(cut, 0) << "no cut gives device 1 two inputs";
  LocalRingOptions o;
  o.async = true;
  auto ring = make_ring({cut}, 2, o);
  ring->set_epoch(2);
  for (int i = 0; i < 10; ++i) ring->new_pass();  // the stale pass is older than every new one
  graph::Batch b = graph::Batch::prompt({1, 2}, 0, /*seq=*/0);
  const int rows = g.tensors[tensor].selected ? b.n_out() : b.n_rows();
  std::vector<std::pair<int, std::vector<float>>> t;
  t.emplace_back(tensor, std::vector<float>(static_cast<size_t>(rows) * g.tensors[tensor].width));
  ring->inject_tensors(0, 1, /*epoch=*/1, /*step=*/0, b, std::move(t));
  const auto sp = sampling_for(0);
  auto got = generate_on_ring(*ring, prompt_for(0), 8, sp, nullptr, nullptr, 10.0);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ(got->tokens, alone(prompt_for(0), 8, sp));
}

// A message of a newer epoch than the device's is an error naming the device, not a hang.
TEST(RingAsync, FutureEpochIsAnError) {
  LocalRingOptions o;
  o.async = true;
  auto ring = make_ring({5}, 2, o);
  const graph::Graph& g = synth_model().graph;
  auto seg = graph::segment_at(g, {5});
  const int tensor = graph::build_map(g, *seg).inputs[1][0];
  graph::Batch b = graph::Batch::prompt({1}, 0, 0);
  std::vector<std::pair<int, std::vector<float>>> t;
  t.emplace_back(tensor, std::vector<float>(g.tensors[tensor].width));
  ring->inject_tensors(0, 1, /*epoch=*/7, 0, b, std::move(t));
  auto ev = ring->next_token(10.0);
  ASSERT_FALSE(ev.is_ok());
  EXPECT_NE(ev.status().message().find("device 1"), std::string::npos) << ev.status().message();
  EXPECT_NE(ev.status().message().find("epoch 7"), std::string::npos) << ev.status().message();
}

TEST(RingAsync, KilledDeviceIsReportedByName) {
  LocalRingOptions o;
  o.async = true;
  o.max_delay_s = 100e-6;
  auto ring = make_ring({4, 9}, 4, o);
  std::atomic<bool> killed{false};
  Outcome got = run_requests(*ring, 4, 40, 3, 0, [&](int, int32_t) {
    // From the scheduler thread, after the first token: as if device 1's process died.
    if (!killed.exchange(true)) ring->kill_device(1);
  });
  for (int i = 0; i < 4; ++i)
    EXPECT_NE(got.done[i].find("device 1 lost"), std::string::npos) << got.done[i];
}

TEST(SequenceTable, SlotsTokensAndRngState) {
  SequenceTable t;
  t.configure(2, 3);
  model::SamplerParams sp;
  sp.seed = 9;
  auto a = t.open(10, sp, {1, 2});
  auto b = t.open(11, sp, {3});
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(a->kv_slot, (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(b->kv_slot, (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(t.mean_position(), 1.5);  // positions 2 and 1
  auto full = t.open(12, sp, {4});
  ASSERT_FALSE(full.is_ok());
  EXPECT_NE(full.status().message().find("every KV slot is taken"), std::string::npos);
  EXPECT_TRUE(t.on_token(10, 42, 777));
  EXPECT_FALSE(t.on_token(99, 1, 1));
  EXPECT_EQ(t.mean_position(), 2.0);  // positions 3 and 1
  auto r = t.find(10);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->history(), (std::vector<int32_t>{1, 2, 42}));
  EXPECT_EQ(r->rng_state, 777u);
  EXPECT_EQ(r->state, SeqState::kGenerating);
  t.close(10);
  auto c = t.open(12, sp, {4});
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->kv_slot[0], 0);  // the freed slot
  EXPECT_EQ(t.size(), 2u);
  t.close(11);
  t.close(12);
  EXPECT_FALSE(t.mean_position().has_value());  // none live
}

// The head's table follows the ring: tokens and RNG state arrive with every token, so a
// sampler restarted from the table continues exactly (what failover relies on).
TEST(SequenceTable, RingRecordsTokensAndRngForReplay) {
  auto ring = make_ring({6}, 2, {});
  const auto sp = sampling_for(1);
  const auto want = alone(prompt_for(1), 10, sp);
  const int32_t seq = ring->new_sequence_id();
  ASSERT_TRUE(ring->start_sequence(seq, sp, prompt_for(1)).is_ok());
  ASSERT_TRUE(ring->submit(ring->new_pass(), graph::Batch::prompt(prompt_for(1), 0, seq)).is_ok());
  int pos = static_cast<int>(prompt_for(1).size());
  for (int i = 0; i < 4; ++i) {
    auto ev = ring->next_token(5.0);
    ASSERT_TRUE(ev.is_ok()) << ev.status().to_string();
    ASSERT_EQ(ev->token, want[i]);
    if (i < 3)
      ASSERT_TRUE(
          ring->submit(ring->new_pass(), graph::Batch::prompt({ev->token}, pos++, seq)).is_ok());
  }
  const SeqRecord rec = *ring->sequences().find(seq);
  EXPECT_EQ(rec.generated, std::vector<int32_t>(want.begin(), want.begin() + 4));
  // The RNG position the table holds is the one a single-device sampler has after 4 tokens.
  auto e = model::Engine::create(synth_model(), 1, kCtx);
  model::Sampler s(sp);
  ASSERT_TRUE(model::generate(**e, prompt_for(1), 4, s, nullptr).is_ok());
  EXPECT_EQ(rec.rng_state, s.rng_state());
  EXPECT_NE(rec.rng_state, sp.seed);
  ASSERT_TRUE(ring->end_sequence(seq).is_ok());
  EXPECT_FALSE(ring->sequences().find(seq).has_value());
}

TEST(KvCache, ExportImportOneSequencesLayerRange) {
  graph::KvCache src({0, 1, 2, 3}, 8, 16, 2);
  ASSERT_TRUE(src.bind(5, 1).is_ok());
  for (int l = 0; l < 4; ++l) {
    for (int i = 0; i < 16 * 8; ++i) {
      src.k(l, 1)[i] = 1000.0f * l + i;
      src.v(l, 1)[i] = -1000.0f * l - i;
    }
  }
  auto rows = src.export_rows(5, 1, 3, 10);
  ASSERT_TRUE(rows.is_ok()) << rows.status().to_string();
  EXPECT_EQ(rows->layers, (std::vector<int>{1, 2}));
  // The receiving device owns layers 1..2 (after a boundary move) and other sequences.
  graph::KvCache dst({2}, 8, 16, 3);
  dst.add_layer(1);
  ASSERT_TRUE(dst.slot(77).is_ok());
  ASSERT_TRUE(dst.import_rows(5, *rows).is_ok());
  const int sl = dst.find_slot(5);
  ASSERT_GE(sl, 0);
  for (int l = 1; l <= 2; ++l) {
    for (int i = 0; i < 10 * 8; ++i) {
      ASSERT_EQ(dst.k(l, sl)[i], 1000.0f * l + i);
      ASSERT_EQ(dst.v(l, sl)[i], -1000.0f * l - i);
    }
    EXPECT_EQ(dst.k(l, sl)[10 * 8], 0.0f);  // rows past n_pos are not copied
  }
  EXPECT_EQ(dst.layers(), (std::vector<int>{1, 2}));
  dst.drop_layer(2);
  EXPECT_FALSE(dst.has_layer(2));
  EXPECT_FALSE(dst.import_rows(5, *rows).is_ok());    // layer 2 is gone
  EXPECT_FALSE(src.export_rows(6, 0, 4, 1).is_ok());  // no such sequence
  EXPECT_FALSE(src.bind(6, 1).is_ok());               // slot 1 is held by sequence 5
}

// What a move may pre-copy: positions of passes whose token came back, and of every earlier
// pass of the sequence (passes without logits rows included), never of passes in flight.
TEST(ReplayLog, AnsweredPositionsAreThoseOfPassesWhoseTokenCameBack) {
  ReplayLog log;
  graph::Batch chunk, rest, next;
  for (int p = 0; p < 4; ++p) chunk.add(10 + p, p, 3, false);  // a prefill chunk: no logits
  rest.add(14, 4, 3, false);
  rest.add(15, 5, 3, true);
  next.add(16, 6, 3, true);
  log.on_submit(1, chunk);
  log.on_submit(2, rest);
  EXPECT_EQ(log.answered_positions(3), 0);
  log.on_submit(3, next);
  EXPECT_EQ(log.on_token(3, 2), 2u);
  EXPECT_EQ(log.answered_positions(3), 6);  // pass 3 (position 6) is still in flight
  EXPECT_EQ(log.n_positions(3), 7);
  log.on_token(3, 3);
  EXPECT_EQ(log.answered_positions(3), 7);
  log.on_end(3);
  EXPECT_EQ(log.answered_positions(3), 0);
}

// A move's pre-copy takes positions [0, 6) while the sequence goes on, and its delta [6, 10)
// at the switch: together they are the rows a whole export gives.
TEST(KvCache, RangedExportsAddUpToTheWholeRows) {
  graph::KvCache src({0, 1}, 4, 16, 2);
  ASSERT_TRUE(src.bind(5, 0).is_ok());
  for (int l = 0; l < 2; ++l) {
    for (int i = 0; i < 16 * 4; ++i) {
      src.k(l, 0)[i] = 100.0f * l + i;
      src.v(l, 0)[i] = -100.0f * l - i;
    }
  }
  auto pre = src.export_rows(5, 0, 2, 0, 6);
  auto delta = src.export_rows(5, 0, 2, 6, 10);
  auto whole = src.export_rows(5, 0, 2, 10);
  ASSERT_TRUE(pre.is_ok() && delta.is_ok() && whole.is_ok());
  EXPECT_EQ(delta->pos_begin, 6);
  EXPECT_EQ(delta->n_pos, 4);
  EXPECT_EQ(delta->data[0], 6.0f * 4);  // layer 0's K at position 6
  graph::KvCache a({0, 1}, 4, 16, 2), b({0, 1}, 4, 16, 2);
  ASSERT_TRUE(a.import_rows(5, *pre).is_ok());
  ASSERT_TRUE(a.import_rows(5, *delta).is_ok());
  ASSERT_TRUE(b.import_rows(5, *whole).is_ok());
  for (int l = 0; l < 2; ++l) {
    for (int i = 0; i < 16 * 4; ++i) {
      ASSERT_EQ(a.k(l, a.find_slot(5))[i], b.k(l, b.find_slot(5))[i]) << l << " " << i;
      ASSERT_EQ(a.v(l, a.find_slot(5))[i], b.v(l, b.find_slot(5))[i]) << l << " " << i;
    }
  }
  EXPECT_FALSE(src.export_rows(5, 0, 2, 7, 6).is_ok());   // reversed
  EXPECT_FALSE(src.export_rows(5, 0, 2, 0, 17).is_ok());  // past the context
  graph::KvRows past = *delta;
  past.pos_begin = 14;  // [14, 18) of a 16-position cache
  EXPECT_FALSE(a.import_rows(5, past).is_ok());
}

// A device whose layer range changes keeps the rows of the layers it still runs.
TEST(KvCache, AdoptTakesTheSharedLayersAndTheSlots) {
  graph::KvCache old({0, 1}, 4, 8, 2);
  ASSERT_TRUE(old.bind(9, 1).is_ok());
  old.k(1, 1)[3] = 42.0f;
  old.v(0, 1)[5] = -7.0f;
  graph::KvCache next({1, 2}, 4, 8, 2);
  ASSERT_TRUE(next.adopt(old).is_ok());
  EXPECT_EQ(next.find_slot(9), 1);
  EXPECT_EQ(next.k(1, 1)[3], 42.0f);  // layer 1 came along
  EXPECT_EQ(next.k(2, 1)[3], 0.0f);   // layer 2 is new: its rows come from an import
  EXPECT_EQ(next.layers(), (std::vector<int>{1, 2}));
  EXPECT_EQ(old.layers(), (std::vector<int>{0}));  // layer 0 stays behind, untouched
  EXPECT_EQ(old.v(0, 1)[5], -7.0f);
  graph::KvCache other({1}, 4, 16, 2);  // another context size
  EXPECT_FALSE(other.adopt(next).is_ok());
}

// The scheduler's ring timeout runs on its clock: a fake clock makes it expire at once.
class SilentRing : public Ring {
 public:
  Status submit(uint32_t, const graph::Batch&) override { return Status::ok(); }
  int n_ctx() const override { return 64; }
  // Set when the scheduler first waits for a token, i.e. after it noted its last progress.
  std::future<void> first_wait() { return first_.get_future(); }

 protected:
  Status send_seq_start(const SeqRecord&) override { return Status::ok(); }
  Result<TokenEvent> wait_token(double) override {
    if (!waited_.exchange(true)) first_.set_value();
    return unavailable("timeout: no token yet");
  }
  Status send_seq_end(int32_t) override { return Status::ok(); }

 private:
  std::atomic<bool> waited_{false};
  std::promise<void> first_;
};

TEST(Scheduler, RingTimeoutFollowsTheClock) {
  FakeClock clock;
  SilentRing ring;
  auto first = ring.first_wait();
  SchedulerOptions so;
  so.ring_timeout_s = 3600;
  so.clock = &clock;
  Scheduler sched(ring, so);
  std::promise<std::string> done;
  GenRequest r;
  r.prompt = {1, 2};
  r.n_predict = 4;
  r.on_done = [&](const Status& st, const std::string&) { done.set_value(st.to_string()); };
  ASSERT_TRUE(sched.submit(std::move(r)).is_ok());
  ASSERT_EQ(first.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  clock.advance(3601);
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_NE(f.get().find("no token from the ring for 3600"), std::string::npos);
}

}  // namespace
}  // namespace ll::runtime
