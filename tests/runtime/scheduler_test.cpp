// Many sequences in flight (micro-batched decode, chunked prefill) return exactly what each
// prompt returns alone.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>

#include "model/engine.h"
#include "model/generate.h"
#include "model/synth.h"
#include "plan/pipeline.h"
#include "runtime/local_ring.h"
#include "runtime/scheduler.h"
#include "shared_dir.h"
#include "temp_dir.h"

namespace ll::runtime {
namespace {

struct Fixture {
  std::unique_ptr<model::Model> m;
  std::unique_ptr<LocalRing> ring;
};

Fixture make(int n_dev, int max_seqs) {
  Fixture f;
  model::SynthSpec spec;
  spec.type = DType::kQ8_0;
  const std::string path = ll::testing::temp_path("sched.gguf");
  EXPECT_TRUE(model::write_synth(spec, path).is_ok());
  f.m = model::Model::load(path).value();
  auto s = graph::segment_default(f.m->graph, n_dev);
  f.ring = LocalRing::create(f.m->graph, *s, *f.m->weights, 256, max_seqs, {1}).value();
  return f;
}

std::vector<int32_t> alone(const model::Model& m, const std::vector<int32_t>& prompt, int n) {
  auto e = model::Engine::create(m, 1, 256);
  model::SamplerParams sp;
  sp.temp = 0;
  model::Sampler s(sp);
  return model::generate(**e, prompt, n, s, nullptr)->tokens;
}

void run_concurrent(int n_req, int n_dev, int max_seqs, int chunk) {
  Fixture f = make(n_dev, max_seqs);
  SchedulerOptions opt;
  opt.max_seqs = max_seqs;
  opt.n_devices = n_dev;
  opt.prefill_chunk = chunk;
  Scheduler sched(*f.ring, opt);
  std::vector<std::vector<int32_t>> prompts, got(n_req);
  std::vector<std::promise<std::string>> done(n_req);
  for (int i = 0; i < n_req; ++i) {
    std::vector<int32_t> p = {1};
    for (int k = 0; k < 3 + i % 11; ++k) p.push_back(3 + (i * 37 + k * 11) % 500);
    prompts.push_back(p);
    GenRequest r;
    r.prompt = p;
    r.n_predict = 12 + i % 5;
    r.sampling.temp = 0;
    r.on_token = [&got, i](int32_t t) {
      got[i].push_back(t);
      return true;
    };
    r.on_done = [&done, i](const Status& st, const std::string& reason) {
      done[i].set_value(st.is_ok() ? reason : st.to_string());
    };
    ASSERT_TRUE(sched.submit(std::move(r)).is_ok());
  }
  for (int i = 0; i < n_req; ++i) {
    EXPECT_EQ(done[i].get_future().get(), "length");
    EXPECT_EQ(got[i], alone(*f.m, prompts[i], 12 + i % 5)) << "request " << i;
  }
  auto st = sched.stats();
  EXPECT_EQ(st.requests_done, static_cast<uint64_t>(n_req));
  EXPECT_EQ(st.active, 0u);
}

// A second scheduler on the same ring (bench_runtime's ttft does this) must not reuse the first
// one's sequence ids: over the network, the first sequence's reset can still be travelling
// down the ring and would end the second sequence on the tail.
TEST(Scheduler, SchedulersOnOneRingNeverShareSequenceIds) {
  Fixture f = make(2, 2);
  std::vector<int32_t> seqs;
  for (int round = 0; round < 2; ++round) {
    Scheduler sched(*f.ring, {});
    GenRequest r;
    r.prompt = {1, 5, 9};
    r.n_predict = 3;
    r.sampling.temp = 0;
    std::promise<void> done;
    r.on_done = [&done](const Status&, const std::string&) { done.set_value(); };
    ASSERT_TRUE(sched.submit(std::move(r)).is_ok());
    done.get_future().get();
    seqs.push_back(f.ring->new_sequence_id());
  }
  // Each round used one id and the probe one more: 0 (round 1), 1 (probe), 2 (round 2), 3.
  EXPECT_EQ(seqs, (std::vector<int32_t>{1, 3}));
}

TEST(Scheduler, SixteenConcurrentGreedyRequestsMatchAlone) {
  run_concurrent(16, 3, 8, 0);
}
TEST(Scheduler, ChunkedPrefillMatchesAlone) {
  run_concurrent(6, 3, 3, 4);
}
TEST(Scheduler, OneDeviceOneSlot) {
  run_concurrent(4, 1, 1, 2);
}

TEST(Scheduler, RejectsOverlongAndEmptyPrompts) {
  Fixture f = make(2, 2);
  Scheduler sched(*f.ring, {});
  GenRequest r;
  EXPECT_FALSE(sched.submit(r).is_ok());
  r.prompt = {1};
  r.n_predict = 100000;
  auto res = sched.submit(r);
  ASSERT_FALSE(res.is_ok());
  EXPECT_NE(res.status().message().find("context"), std::string::npos);
}

TEST(Scheduler, CancelFreesTheSlot) {
  Fixture f = make(2, 1);
  SchedulerOptions opt;
  opt.max_seqs = 1;
  Scheduler sched(*f.ring, opt);
  std::promise<std::string> first, second;
  GenRequest a;
  a.prompt = {1, 2, 3};
  a.n_predict = 200;
  a.on_token = [](int32_t) { return false; };  // client disconnects at once
  a.on_done = [&](const Status&, const std::string& r) { first.set_value(r); };
  ASSERT_TRUE(sched.submit(std::move(a)).is_ok());
  GenRequest b;
  b.prompt = {1, 4};
  b.n_predict = 3;
  b.on_done = [&](const Status&, const std::string& r) { second.set_value(r); };
  ASSERT_TRUE(sched.submit(std::move(b)).is_ok());
  EXPECT_EQ(first.get_future().get(), "cancelled");
  EXPECT_EQ(second.get_future().get(), "length");
}

}  // namespace
}  // namespace ll::runtime

namespace ll::runtime {
namespace {

TEST(Scheduler, CancelFromOnTokenFreesTheSlot) {
  Fixture f = make(2, 1);
  SchedulerOptions opt;
  opt.max_seqs = 1;
  Scheduler sched(*f.ring, opt);
  std::promise<std::string> first, second;
  // The id is only known once submit() returns, which may be after the first tokens.
  std::atomic<uint64_t> id{0};
  int seen = 0;
  bool cancelled = false;
  GenRequest a;
  a.prompt = {1, 2, 3};
  a.n_predict = 200;
  // Cancel between tokens, while nothing of this sequence is in flight.
  a.on_token = [&](int32_t) {
    if (++seen >= 2 && !cancelled && id != 0) {
      sched.cancel(id);
      cancelled = true;
    }
    return true;
  };
  a.on_done = [&](const Status&, const std::string& r) { first.set_value(r); };
  id = *sched.submit(std::move(a));
  GenRequest b;
  b.prompt = {1, 4};
  b.n_predict = 3;
  b.on_done = [&](const Status&, const std::string& r) { second.set_value(r); };
  ASSERT_TRUE(sched.submit(std::move(b)).is_ok());
  auto f1 = first.get_future();
  ASSERT_EQ(f1.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "cancelled sequence never finished";
  EXPECT_EQ(f1.get(), "cancelled");
  EXPECT_EQ(second.get_future().get(), "length");
}

// Answers nothing and counts the passes submitted; its size is whatever the test says, as a
// ring a balancer resizes.
class CountingRing : public Ring {
 public:
  Status submit(uint32_t, const graph::Batch&) override {
    ++passes_;
    return Status::ok();
  }
  int n_ctx() const override { return 64; }
  int live_devices() const override { return live_.load(); }
  void set_live_devices(int n) { live_ = n; }
  int passes() const { return passes_.load(); }
  // Returns once the scheduler has waited for a token twice after this call began: the
  // second wait follows a whole loop (admission, then waves) that started after it.
  void two_more_loops() {
    std::unique_lock<std::mutex> lock(mu_);
    const int from = waits_;
    ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return waits_ >= from + 2; }));
  }

 protected:
  Status send_seq_start(const SeqRecord&) override { return Status::ok(); }
  Result<TokenEvent> wait_token(double timeout_s) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++waits_;
    cv_.notify_all();
    // Waits as a real ring would (no token ever comes), so the scheduler does not spin.
    cv_.wait_for(lock, std::chrono::duration<double>(std::min(timeout_s, 0.01)));
    return unavailable("no token");
  }
  Status send_seq_end(int32_t) override { return Status::ok(); }

 private:
  std::atomic<int> passes_{0}, live_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  int waits_ = 0;  // under mu_
};

// Six one-token prompts: every prompt's pass is a wave, so the passes in flight are the waves.
void submit_six(Scheduler& sched) {
  for (int i = 0; i < 6; ++i) {
    GenRequest r;
    r.prompt = {1};
    r.n_predict = 2;
    ASSERT_TRUE(sched.submit(std::move(r)).is_ok());
  }
}

TEST(Scheduler, WavesFollowTheRingsSizeAsItChanges) {
  CountingRing ring;
  ring.set_live_devices(3);
  SchedulerOptions so;
  so.max_seqs = 6;
  Scheduler sched(ring, so);
  submit_six(sched);
  ring.two_more_loops();
  EXPECT_EQ(ring.passes(), 3) << "one wave per device of a 3-device ring";
  ring.set_live_devices(5);  // a move added two devices
  ring.two_more_loops();
  EXPECT_EQ(ring.passes(), 5);
}

TEST(Scheduler, AFixedDeviceCountOrARingThatDoesNotSay) {
  CountingRing fixed;
  fixed.set_live_devices(4);
  SchedulerOptions so;
  so.max_seqs = 6;
  so.n_devices = 2;  // the caller's count wins over the ring's
  {
    Scheduler sched(fixed, so);
    submit_six(sched);
    fixed.two_more_loops();
    EXPECT_EQ(fixed.passes(), 2);
  }
  CountingRing silent;  // live_devices() 0: one wave
  so.n_devices = 0;
  Scheduler sched(silent, so);
  submit_six(sched);
  silent.two_more_loops();
  EXPECT_EQ(silent.passes(), 1);
}

// Answers every pass with a token for each of its logits rows, first in, first out, and
// records the rows of each pass: a ring whose devices take equally long, as the planner's
// wave model (plan::wave_rows) assumes. No token comes back before open(), so requests
// submitted before it all start together, however the test thread is scheduled.
class FifoRing : public Ring {
 public:
  explicit FifoRing(int devices) : devices_(devices) {}
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
  }
  Status submit(uint32_t step, const graph::Batch& batch) override {
    std::lock_guard<std::mutex> lock(mu_);
    rows_.push_back(batch.n_rows());
    for (int r = 0; r < batch.n_rows(); ++r) {
      if (batch.want_logits[r]) pending_.push_back({batch.seq[r], step, 7, 0, false, {}});
    }
    return Status::ok();
  }
  int n_ctx() const override { return 4096; }
  int live_devices() const override { return devices_; }
  std::vector<int> rows() const {
    std::lock_guard<std::mutex> lock(mu_);
    return rows_;
  }

 protected:
  Status send_seq_start(const SeqRecord&) override { return Status::ok(); }
  Result<TokenEvent> wait_token(double) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_ || pending_.empty()) return unavailable("no pass in flight");
    TokenEvent e = pending_.front();
    pending_.pop_front();
    return e;
  }
  Status send_seq_end(int32_t) override { return Status::ok(); }

 private:
  const int devices_;
  mutable std::mutex mu_;
  bool open_ = false;
  std::deque<TokenEvent> pending_;
  std::vector<int> rows_;  // per pass, in submission order
};

// The planner predicts several streams from the waves the scheduler forms (plan/pipeline.h);
// after the prompts, every wave keeps its rows, so the last passes are those waves.
TEST(Scheduler, FormsTheWavesThePlannerPredicts) {
  for (auto [devices, streams] :
       {std::pair{3, 8}, {3, 4}, {3, 7}, {4, 5}, {4, 6}, {2, 8}, {3, 2}, {3, 3}, {1, 4}}) {
    FifoRing ring(devices);
    SchedulerOptions so;
    so.max_seqs = streams;
    Scheduler sched(ring, so);
    for (int i = 0; i < streams; ++i) {
      GenRequest r;
      r.prompt = {1, 2};
      r.n_predict = 40;
      ASSERT_TRUE(sched.submit(std::move(r)).is_ok());
    }
    ring.open();
    sched.wait_idle();
    plan::Evaluation ev;
    for (int d = 0; d < devices; ++d) ev.ring.push_back(d);
    std::vector<int> want = plan::wave_rows(ev, streams);
    // A middle round of waves (the first ones carry prompts, the last ones thin out).
    const std::vector<int> rows = ring.rows();
    ASSERT_GT(rows.size(), 3 * want.size());
    std::vector<int> got(rows.begin() + rows.size() / 2,
                         rows.begin() + rows.size() / 2 + want.size());
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << streams << " streams on " << devices << " devices";
  }
}

}  // namespace
}  // namespace ll::runtime
