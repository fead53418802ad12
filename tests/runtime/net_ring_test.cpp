// The networked ring with in-process workers (real worker and head code over loopback
// ZeroMQ): a second deploy with another layout on the same live workers gives the tokens of a
// fresh start, and statistics can be asked for while several streams generate.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "model/engine.h"
#include "model/generate.h"
#include "model/synth.h"
#include "net_fixture.h"
#include "runtime/net_ring.h"
#include "runtime/scheduler.h"

namespace ll::runtime {
namespace {

using testing::Fixture;

std::vector<int32_t> generate(Ring& ring, const model::SamplerParams& sp) {
  auto r = generate_on_ring(ring, {1, 5, 9, 200}, 16, sp, nullptr, nullptr, 20.0);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? r->tokens : std::vector<int32_t>{};
}

TEST(NetRing, SecondDeployOnLiveWorkersMatchesFreshStart) {
  Fixture f(2);
  model::SamplerParams greedy, seeded;
  greedy.temp = 0;
  seeded.temp = 0.9f;
  seeded.seed = 77;
  auto ring = f.ring({3, 11}, 2);
  ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
  const auto first_greedy = generate(**ring, greedy);
  // Another layout (the cuts move, device 2 now starts inside a layer) on the same workers.
  auto layout = (*ring)->layout_from_cuts({7, 9});
  ASSERT_TRUE(layout.is_ok()) << layout.status().to_string();
  ASSERT_TRUE((*ring)->redeploy(*layout).is_ok());
  EXPECT_EQ((*ring)->epoch(), 2u);
  EXPECT_EQ((*ring)->layout().devices[2].node_begin, 9);
  const auto second_greedy = generate(**ring, greedy);
  const auto second_seeded = generate(**ring, seeded);
  ring->reset();
  // A fresh head with that layout from the start.
  auto fresh = f.ring({7, 9}, 2);
  ASSERT_TRUE(fresh.is_ok()) << fresh.status().to_string();
  EXPECT_EQ(generate(**fresh, greedy), second_greedy);
  EXPECT_EQ(generate(**fresh, seeded), second_seeded);
  EXPECT_EQ(first_greedy, second_greedy);
  // And the single device.
  auto e = model::Engine::create(*f.model, 1, 128);
  model::Sampler s(seeded);
  EXPECT_EQ(model::generate(**e, {1, 5, 9, 200}, 16, s, nullptr)->tokens, second_seeded);
}

TEST(NetRing, DeviceStatsWhileEightStreamsGenerate) {
  Fixture f(2);
  auto ring = f.ring({4, 10}, 8);
  ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
  SchedulerOptions so;
  so.max_seqs = 8;
  so.n_devices = 3;
  Scheduler sched(**ring, so);
  std::vector<std::promise<std::string>> done(8);
  std::promise<void> streaming;
  std::atomic<int> tokens{0};
  for (int i = 0; i < 8; ++i) {
    GenRequest r;
    r.prompt = {1, static_cast<int32_t>(10 + i), 7};
    r.n_predict = 60;
    r.sampling.temp = 0;
    r.on_token = [&](int32_t) {
      if (++tokens == 8) streaming.set_value();
      return true;
    };
    r.on_done = [&done, i](const Status& st, const std::string& why) {
      done[i].set_value(st.is_ok() ? why : st.to_string());
    };
    ASSERT_TRUE(sched.submit(std::move(r)).is_ok());
  }
  ASSERT_EQ(streaming.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  // From this thread, while the scheduler thread receives tokens.
  auto stats = (*ring)->device_stats();
  ASSERT_TRUE(stats.is_ok()) << stats.status().to_string();
  ASSERT_EQ(stats->size(), 3u);
  for (const auto& d : *stats) {
    EXPECT_GT(d.value("steps", 0.0), 0) << d.dump();
    EXPECT_GT(d.value("bytes_sent", 0.0), 0) << d.dump();
  }
  for (auto& d : done) {
    auto fut = d.get_future();
    ASSERT_EQ(fut.wait_for(std::chrono::seconds(60)), std::future_status::ready);
    EXPECT_EQ(fut.get(), "length");
  }
}

}  // namespace
}  // namespace ll::runtime
