// Failover with the real head and worker code over loopback ZeroMQ: a worker that stops while
// sequences generate costs no request and changes no token; a worker that comes back is
// re-admitted; when the survivors cannot hold the model the ring says so, in-flight requests
// fail after the wait, and serving resumes once capacity is back. Workers are stopped at a
// token count (not at a time), so every run takes the same path through the code.
#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "net_fixture.h"
#include "runtime/scheduler.h"

namespace ll::runtime {
namespace {

using testing::Fixture;
using testing::InProcessWorker;

struct Request {
  std::vector<int32_t> prompt;
  model::SamplerParams sampling;
};

std::vector<Request> requests(int n) {
  std::vector<Request> out;
  for (int i = 0; i < n; ++i) {
    Request r;
    r.prompt = {1, static_cast<int32_t>(10 + i), 7, static_cast<int32_t>(3 * i + 2)};
    r.sampling.temp = i % 2 ? 0.9f : 0;  // greedy and seeded
    r.sampling.seed = 100 + i;
    out.push_back(r);
  }
  return out;
}

std::vector<int32_t> alone(Ring& ring, const Request& r, int n_predict) {
  auto g = generate_on_ring(ring, r.prompt, n_predict, r.sampling, nullptr, nullptr, 30.0);
  EXPECT_TRUE(g.is_ok()) << g.status().to_string();
  return g.is_ok() ? g->tokens : std::vector<int32_t>{};
}

struct Outcome {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::string> ends;  // finish reason, or the error
};

// Runs every request at once through a scheduler; on_token(total) sees the running count.
Outcome run_all(Ring& ring, const std::vector<Request>& reqs, int n_predict, int n_devices,
                const std::function<void(int)>& on_token) {
  SchedulerOptions so;
  so.max_seqs = static_cast<int>(reqs.size());
  so.n_devices = n_devices;
  so.prefill_chunk = 2;
  Scheduler sched(ring, so);
  Outcome out;
  out.tokens.resize(reqs.size());
  std::vector<std::promise<std::string>> done(reqs.size());
  std::atomic<int> total{0};
  for (size_t i = 0; i < reqs.size(); ++i) {
    GenRequest g;
    g.prompt = reqs[i].prompt;
    g.sampling = reqs[i].sampling;
    g.n_predict = n_predict;
    g.on_token = [&, i](int32_t t) {
      out.tokens[i].push_back(t);
      if (on_token) on_token(++total);
      return true;
    };
    g.on_done = [&done, i](const Status& st, const std::string& why) {
      done[i].set_value(st.is_ok() ? why : st.to_string());
    };
    auto id = sched.submit(std::move(g));
    EXPECT_TRUE(id.is_ok()) << id.status().to_string();
    if (!id.is_ok()) done[i].set_value(id.status().to_string());
  }
  for (auto& d : done) {
    auto f = d.get_future();
    EXPECT_EQ(f.wait_for(std::chrono::seconds(120)), std::future_status::ready);
    out.ends.push_back(f.get());
  }
  return out;
}

TEST(Failover, WorkerLostWhileEightSequencesGenerateChangesNoToken) {
  Fixture f(3);
  const auto reqs = requests(8);
  const int n_predict = 24;
  std::vector<std::vector<int32_t>> want;
  {
    auto ref = f.ring({3, 7, 11}, 8);
    ASSERT_TRUE(ref.is_ok()) << ref.status().to_string();
    for (const Request& r : reqs) want.push_back(alone(**ref, r, n_predict));
  }
  HeadOptions o;
  o.placement = "even";  // after the loss too: the replay then runs on three devices
  auto ring = f.ring({3, 7, 11}, 8, o);
  ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
  // The middle worker stops once 40 tokens have come back: passes are in flight on it.
  Outcome got = run_all(**ring, reqs, n_predict, 4, [&](int total) {
    if (total == 40) f.workers[1]->stop = true;
  });
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(got.ends[i], "length") << "request " << i;
    EXPECT_EQ(got.tokens[i], want[i]) << "request " << i;
  }
  const RingHealth h = (*ring)->health();
  EXPECT_EQ(h.state, RingState::kServing);
  EXPECT_EQ(h.failovers, 1u);
  ASSERT_EQ(h.devices.size(), 4u);
  EXPECT_EQ(h.devices[2].state, "lost") << h.devices[2].name;
  EXPECT_EQ((*ring)->layout().size(), 3);
  for (const RingDevice& d : (*ring)->layout().devices) EXPECT_NE(d.name, f.workers[1]->address);
}

TEST(Failover, RestartedWorkerIsReadmittedAndTokensStayTheSame) {
  Fixture f(2);
  const auto reqs = requests(2);
  auto ring = f.ring({4, 10}, 2);
  ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
  const auto greedy = alone(**ring, reqs[0], 20);
  const auto seeded = alone(**ring, reqs[1], 20);
  const std::string address = f.workers[1]->address;
  f.workers[1]->kill();
  // Lost during (or just before) this generation: replanned onto the head and one worker.
  EXPECT_EQ(alone(**ring, reqs[1], 20), seeded);
  EXPECT_EQ((*ring)->health().failovers, 1u);
  // Another thread (as a /health long-poll) waits for the whole ring: the re-admission on
  // this thread wakes it, long before its 60 s.
  auto whole = std::async(std::launch::async, [&] {
    return (*ring)->wait_health(
        [](const RingHealth& h) {
          for (const DeviceHealth& d : h.devices)
            if (d.state == "lost") return false;
          return h.state == RingState::kServing;
        },
        60);
  });
  f.workers[1] = std::make_unique<InProcessWorker>(f.path, f.cache, address);
  ASSERT_TRUE((*ring)->wait_until_whole(30).is_ok());
  ASSERT_EQ(whole.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  for (const DeviceHealth& d : whole.get().devices) EXPECT_NE(d.state, "lost") << d.name;
  const RingHealth h = (*ring)->health();
  for (const DeviceHealth& d : h.devices) EXPECT_NE(d.state, "lost") << d.name;
  EXPECT_EQ(alone(**ring, reqs[0], 20), greedy);
  EXPECT_EQ(alone(**ring, reqs[1], 20), seeded);
}

TEST(Failover, DegradedWhileTheModelDoesNotFitThenServesAgain) {
  Fixture f(1);
  HeadOptions o;
  o.mem_budget_bytes = 4096;  // the head alone cannot hold the model
  o.failover_wait_s = 0.3;
  auto ring = f.ring({6}, 2, o);
  ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
  const auto reqs = requests(1);
  const auto want = alone(**ring, reqs[0], 20);
  const std::string address = f.workers[0]->address;
  {
    auto degraded = std::async(std::launch::async, [&] {
      return (*ring)->wait_health(
          [](const RingHealth& h) { return h.state == RingState::kDegraded; }, 60);
    });
    Outcome got = run_all(**ring, reqs, 100, 2, [&](int total) {
      if (total == 5) f.workers[0]->stop = true;
    });
    // The waiter on another thread was woken when the ring degraded, not at its 60 s.
    ASSERT_EQ(degraded.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    EXPECT_EQ(degraded.get().state, RingState::kDegraded);
    // The request in flight waited for capacity, then failed with a clear error.
    EXPECT_NE(got.ends[0].find("cannot hold the model"), std::string::npos) << got.ends[0];
    EXPECT_NE(got.ends[0].find("no capacity came back"), std::string::npos) << got.ends[0];
    EXPECT_EQ((*ring)->health().state, RingState::kDegraded);
    SchedulerOptions so;
    Scheduler sched(**ring, so);
    GenRequest g;
    g.prompt = {1, 2};
    auto refused = sched.submit(std::move(g));
    ASSERT_FALSE(refused.is_ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(refused.status().message().find("cannot serve"), std::string::npos);
  }
  f.workers[0]->kill();
  f.workers[0] = std::make_unique<InProcessWorker>(f.path, f.cache, address);
  ASSERT_TRUE((*ring)->wait_until_whole(30).is_ok());
  EXPECT_EQ((*ring)->health().state, RingState::kServing);
  EXPECT_EQ(alone(**ring, reqs[0], 20), want);
}

}  // namespace
}  // namespace ll::runtime
