// GET /health?wait_for=...&timeout=S, the long-poll that lets clients and tests wait for the
// ring's health without polling: it answers when the health changes, at the timeout, or when
// the server stops; bad query values are a 400 naming the parameter. The same for
// GET /v1/cluster/status?wait_for=idle (no request active or queued).
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>

#include "runtime/ring.h"
#include "server/server_test_util.h"

namespace ll::server::testing {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A working in-process ring whose health the test sets from its own thread, as NetRing's
// token loop does on a failover. arm(n)'s future is ready at the n-th health() read after it:
// the explicit signal that n long-polls have taken their first look and are waiting.
class HealthRing : public runtime::Ring {
 public:
  explicit HealthRing(std::unique_ptr<runtime::Ring> inner) : inner_(std::move(inner)) {}
  Status send_seq_start(const runtime::SeqRecord& r) override {
    return inner_->start_sequence(r.id, r.sampling, r.prompt);
  }
  Status submit(uint32_t step, const graph::Batch& batch) override {
    std::unique_lock<std::mutex> lock(gate_mu_);
    if (submitted_) {
      submitted_->set_value();
      submitted_.reset();
    }
    gate_cv_.wait(lock, [this] { return !held_; });
    lock.unlock();
    return inner_->submit(step, batch);
  }
  // While held, forward passes wait at the gate: a request stays active until release().
  // The future is ready when a pass reached the gate.
  std::future<void> hold() {
    std::lock_guard<std::mutex> lock(gate_mu_);
    held_ = true;
    submitted_ = std::make_unique<std::promise<void>>();
    return submitted_->get_future();
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(gate_mu_);
      held_ = false;
    }
    gate_cv_.notify_all();
  }
  Result<runtime::TokenEvent> wait_token(double t) override { return inner_->next_token(t); }
  Status send_seq_end(int32_t seq) override { return inner_->end_sequence(seq); }
  int n_ctx() const override { return inner_->n_ctx(); }

  runtime::RingHealth health() const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (asked_ && --reads_left_ == 0) {
      asked_->set_value();
      asked_.reset();
    }
    return health_;
  }
  std::future<void> arm(int n_reads = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    reads_left_ = n_reads;
    asked_ = std::make_unique<std::promise<void>>();
    return asked_->get_future();
  }
  void set(runtime::RingHealth h, bool announce = true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      health_ = std::move(h);
    }
    if (announce) health_changed();
  }

 private:
  std::unique_ptr<runtime::Ring> inner_;
  mutable std::mutex mu_;
  runtime::RingHealth health_;
  mutable std::unique_ptr<std::promise<void>> asked_;
  mutable int reads_left_ = 0;
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool held_ = false;
  std::unique_ptr<std::promise<void>> submitted_;
};

struct HealthServer {
  std::unique_ptr<TestServer> server;
  HealthRing* ring = nullptr;
};

HealthServer serve_health_ring(ServerOptions so = {}) {
  const BackendOptions o = synth_backend_options(1, 2);
  auto b = load_backend_model(o);
  EXPECT_TRUE(b.is_ok());
  auto inner = make_local_ring(**b, o);
  EXPECT_TRUE(inner.is_ok());
  auto ring = std::make_unique<HealthRing>(std::move(inner).value());
  HealthServer hs;
  hs.ring = ring.get();
  attach_ring(**b, std::move(ring), 1, "health", o);
  hs.server = serve(std::move(b).value(), so);
  return hs;
}

runtime::RingHealth with_devices(runtime::RingState state, const char* w1_state) {
  runtime::RingHealth h;
  h.state = state;
  if (state != runtime::RingState::kServing) h.message = "the remaining devices cannot hold it";
  h.devices = {{"head", "", "up"}, {"w1", "tcp://w1", w1_state}};
  return h;
}

Reply get(const TestServer& s, const std::string& path) {
  auto c = s.client();
  c.set_read_timeout(90, 0);
  return to_reply(c.Get(path.c_str()));
}

TEST(HealthWait, AnswersWhenTheRingsHealthChanges) {
  auto hs = serve_health_ring();
  hs.ring->set(with_devices(runtime::RingState::kServing, "up"));
  // The ring degrades while the wait is in: the answer is the new health, long before 30 s.
  auto asked = hs.ring->arm();
  const auto t0 = std::chrono::steady_clock::now();
  auto degraded = std::async(
      std::launch::async, [&] { return get(*hs.server, "/health?wait_for=degraded&timeout=30"); });
  ASSERT_EQ(asked.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  hs.ring->set(with_devices(runtime::RingState::kDegraded, "lost"));
  Reply r = degraded.get();
  EXPECT_LT(seconds_since(t0), 15.0) << "the wait did not wake on the change";
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.j["status"], "degraded") << r.body;
  EXPECT_EQ(r.j["devices"][1]["state"], "lost") << r.body;

  // Serving again with w1 still lost is "ok" but not "whole"; w1's return is.
  asked = hs.ring->arm();
  auto whole = std::async(std::launch::async,
                          [&] { return get(*hs.server, "/health?wait_for=whole&timeout=30"); });
  ASSERT_EQ(asked.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  asked = hs.ring->arm();
  hs.ring->set(with_devices(runtime::RingState::kServing, "lost"));
  // The waiter looked again and went back to waiting (w1 is still lost).
  ASSERT_EQ(asked.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_EQ(whole.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  EXPECT_EQ(get(*hs.server, "/health?wait_for=ok&timeout=30").status, 200);  // at once
  hs.ring->set(with_devices(runtime::RingState::kServing, "up"));
  r = whole.get();
  EXPECT_LT(seconds_since(t0), 30.0);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["devices"][1]["state"], "up") << r.body;
}

TEST(HealthWait, AnswersTheCurrentHealthAtTheTimeout) {
  auto hs = serve_health_ring();
  hs.ring->set(with_devices(runtime::RingState::kServing, "up"));
  auto t0 = std::chrono::steady_clock::now();
  Reply r = get(*hs.server, "/health?wait_for=degraded&timeout=0.5");
  EXPECT_GE(seconds_since(t0), 0.5) << "answered before the timeout with the condition unmet";
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["status"], "ok") << r.body;
  // A change nobody announced is still seen at the timeout (the answer is the health then).
  hs.ring->set(with_devices(runtime::RingState::kDegraded, "lost"), /*announce=*/false);
  t0 = std::chrono::steady_clock::now();
  r = get(*hs.server, "/health?wait_for=ok&timeout=0.3");
  EXPECT_GE(seconds_since(t0), 0.3);
  EXPECT_EQ(r.status, 503) << r.body;
  // timeout=0 and no wait_for answer at once, as plain /health.
  EXPECT_EQ(get(*hs.server, "/health?wait_for=ok&timeout=0").status, 503);
  EXPECT_EQ(get(*hs.server, "/health").status, 503);
}

TEST(HealthWait, AConditionAlreadyMetAnswersAtOnce) {
  auto s = serve_synth(1, 1);  // a local ring: always serving, no devices
  const auto t0 = std::chrono::steady_clock::now();
  for (const char* what : {"ok", "whole"}) {
    Reply r = get(*s, std::string("/health?wait_for=") + what + "&timeout=60");
    EXPECT_EQ(r.status, 200) << what << ": " << r.body;
    EXPECT_EQ(r.j, json({{"status", "ok"}})) << r.body;
  }
  EXPECT_LT(seconds_since(t0), 30.0);
}

TEST(HealthWait, BadQueryValuesAre400NamingTheParameter) {
  auto s = serve_synth(1, 1);
  const std::pair<const char*, const char*> cases[] = {
      {"/health?wait_for=up", "wait_for"},
      {"/health?wait_for=", "wait_for"},
      {"/health?wait_for=OK", "wait_for"},
      {"/health?wait_for=ok&timeout=-1", "timeout"},
      {"/health?wait_for=ok&timeout=61", "timeout"},
      {"/health?wait_for=ok&timeout=1e400", "timeout"},
      {"/health?wait_for=ok&timeout=nan", "timeout"},
      {"/health?wait_for=ok&timeout=inf", "timeout"},
      {"/health?wait_for=ok&timeout=5s", "timeout"},
      {"/health?wait_for=ok&timeout=", "timeout"},
      {"/health?wait_for=ok&timeout=%205", "timeout"},
      {"/health?timeout=5", "timeout"},
  };
  for (const auto& [path, param] : cases) {
    Reply r = get(*s, path);
    EXPECT_EQ(r.status, 400) << path << ": " << r.body;
    EXPECT_EQ(r.j["error"]["param"], param) << path << ": " << r.body;
  }
  EXPECT_EQ(get(*s, "/health").status, 200);  // the server is fine
}

TEST(HealthWait, StopEndsAWaitAtOnce) {
  auto hs = serve_health_ring();
  auto asked = hs.ring->arm();
  auto waiting = std::async(
      std::launch::async, [&] { return get(*hs.server, "/health?wait_for=degraded&timeout=60"); });
  ASSERT_EQ(asked.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  const auto t0 = std::chrono::steady_clock::now();
  hs.server->http->stop();
  EXPECT_LT(seconds_since(t0), 30.0) << "stop() waited for the long-poll's timeout";
  Reply r = waiting.get();
  EXPECT_EQ(r.status, 200) << r.body;  // the health as it was: serving
}

TEST(HealthWait, WaitsBeyondHalfThePoolAre429) {
  ServerOptions so;
  so.http_threads = 4;  // at most 2 waits
  auto hs = serve_health_ring(so);
  // Two waits that do not end on their own hold their threads until the server stops; the
  // third is refused, and plain requests still run.
  auto asked = hs.ring->arm(2);
  std::vector<std::future<Reply>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::async(std::launch::async, [&] {
      return get(*hs.server, "/health?wait_for=degraded&timeout=60");
    }));
  }
  ASSERT_EQ(asked.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  Reply third = get(*hs.server, "/health?wait_for=degraded&timeout=5");
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_EQ(third.j["error"]["code"], "too_many_waits") << third.body;
  EXPECT_EQ(get(*hs.server, "/health").status, 200);
  hs.server->http->stop();
  for (auto& f : held) EXPECT_EQ(f.get().status, 200);
}

// A request held at the ring's gate stays active: the status long-poll waits for it to end.
TEST(StatusWait, IdleAnswersWhenTheLastRequestEnds) {
  auto hs = serve_health_ring();
  auto at_gate = hs.ring->hold();
  auto request = std::async(std::launch::async, [&] {
    return post(*hs.server, "/v1/completions",
                json{{"prompt", "held"}, {"max_tokens", 4}, {"temperature", 0}}.dump());
  });
  ASSERT_EQ(at_gate.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_EQ(get(*hs.server, "/v1/cluster/status").j["requests"]["active"], 1);
  const auto t0 = std::chrono::steady_clock::now();
  auto idle = std::async(std::launch::async, [&] {
    return get(*hs.server, "/v1/cluster/status?wait_for=idle&timeout=30");
  });
  // Not idle: a short wait answers at its timeout with the request still active.
  const auto t1 = std::chrono::steady_clock::now();
  Reply busy = get(*hs.server, "/v1/cluster/status?wait_for=idle&timeout=0.5");
  EXPECT_GE(seconds_since(t1), 0.5) << busy.body;
  EXPECT_EQ(busy.j["requests"]["active"], 1) << busy.body;
  hs.ring->release();
  EXPECT_EQ(request.get().status, 200);
  Reply r = idle.get();
  EXPECT_LT(seconds_since(t0), 15.0) << "the wait did not wake when the request ended";
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["requests"]["active"], 0) << r.body;
  EXPECT_EQ(r.j["requests"]["completed"], 1) << r.body;
  // Idle already: at once.
  EXPECT_EQ(get(*hs.server, "/v1/cluster/status?wait_for=idle&timeout=60").j["requests"]["active"],
            0);
}

TEST(StatusWait, StopEndsAWaitAtOnceAndBadValuesAre400) {
  auto hs = serve_health_ring();
  for (const char* q :
       {"?wait_for=ok", "?wait_for=idle&timeout=61", "?timeout=1", "?wait_for=idle&timeout=x"}) {
    Reply r = get(*hs.server, std::string("/v1/cluster/status") + q);
    EXPECT_EQ(r.status, 400) << q << ": " << r.body;
    EXPECT_EQ(r.j["error"]["param"],
              std::string(q).find("timeout") != std::string::npos ? "timeout" : "wait_for")
        << q << ": " << r.body;
  }
  auto at_gate = hs.ring->hold();
  auto request = std::async(std::launch::async, [&] {
    return post(*hs.server, "/v1/completions",
                json{{"prompt", "held"}, {"max_tokens", 4}, {"temperature", 0}}.dump());
  });
  ASSERT_EQ(at_gate.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  auto idle = std::async(std::launch::async, [&] {
    return get(*hs.server, "/v1/cluster/status?wait_for=idle&timeout=60");
  });
  // The wait is in once a short one has answered (sent later, it cannot have overtaken it but
  // by an accident of scheduling, which only makes this check pass without testing).
  EXPECT_EQ(get(*hs.server, "/v1/cluster/status?wait_for=idle&timeout=0.3").status, 200);
  // The request is stuck at the gate, so only stop()'s wake can end the wait early.
  const auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { hs.server->http->stop(); });
  Reply r = idle.get();
  EXPECT_LT(seconds_since(t0), 30.0) << "stop() did not end the wait";
  EXPECT_EQ(r.j["requests"]["active"], 1) << r.body;
  hs.ring->release();  // the generation ends (abandoned), so stop() can return
  stopper.join();
  request.get();
}

}  // namespace
}  // namespace ll::server::testing
