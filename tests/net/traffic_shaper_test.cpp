#include "net/traffic_shaper.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

namespace ll::net {
namespace {

using Clock = TrafficShaper::Clock;
using std::chrono::milliseconds;

double secs(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

TEST(TrafficShaper, OffByDefault) {
  TrafficShaper s(0, 0);
  EXPECT_FALSE(s.enabled());
  auto now = Clock::now();
  EXPECT_EQ(s.release_time(1 << 20, now), now);
}

TEST(TrafficShaper, LatencyOnlyDelaysEachMessage) {
  TrafficShaper s(0.05, 0);
  EXPECT_TRUE(s.enabled());
  auto t0 = Clock::now();
  EXPECT_NEAR(secs(s.release_time(100, t0) - t0), 0.05, 1e-9);
  EXPECT_NEAR(secs(s.release_time(1 << 20, t0) - t0), 0.05, 1e-9);
}

TEST(TrafficShaper, BandwidthSerializesBackToBack) {
  TrafficShaper s(0.1, 1000);  // 1000 B/s
  auto t0 = Clock::now();
  EXPECT_NEAR(secs(s.release_time(100, t0) - t0), 0.2, 1e-9);
  EXPECT_NEAR(secs(s.release_time(100, t0) - t0), 0.3, 1e-9);  // queued behind the first
  // After the link went idle, no credit was banked: full serialization time again.
  auto later = t0 + std::chrono::seconds(10);
  EXPECT_NEAR(secs(s.release_time(100, later) - later), 0.2, 1e-9);
}

TEST(TrafficShaper, ReleaseTimesNeverDecrease) {
  TrafficShaper s(0.01, 1e6);
  auto t = Clock::now();
  auto prev = t;
  for (int i = 0; i < 100; ++i) {
    t += milliseconds(i % 3);
    auto r = s.release_time(static_cast<size_t>((i * 7919) % 20000), t);
    EXPECT_GE(r, prev);
    prev = r;
  }
}

// Quantiles of the added latency over many messages, far apart so bandwidth plays no part.
std::vector<double> sorted_delays(TrafficShaper& s, int n) {
  auto t = Clock::now();
  std::vector<double> d;
  for (int i = 0; i < n; ++i) {
    t += std::chrono::seconds(10);
    d.push_back(secs(s.release_time(100, t) - t));
  }
  std::sort(d.begin(), d.end());
  return d;
}

TEST(TrafficShaper, JitterHasTheGivenMedianAndP95) {
  TrafficShaper s(0.005, 0);  // median 5 ms
  s.set_jitter(0.015, 42);    // p95 15 ms
  const auto d = sorted_delays(s, 20000);
  EXPECT_NEAR(d[d.size() / 2], 0.005, 0.005 * 0.05);
  EXPECT_NEAR(d[d.size() * 95 / 100], 0.015, 0.015 * 0.05);
  EXPECT_GT(d.front(), 0.0);
}

TEST(TrafficShaper, JitterKeepsOrder) {
  TrafficShaper s(0.002, 1e6);
  s.set_jitter(0.02, 7);
  auto t = Clock::now(), prev = t;
  for (int i = 0; i < 2000; ++i) {
    t += std::chrono::microseconds(100);
    auto r = s.release_time(500, t);
    EXPECT_GE(r, prev);
    EXPECT_GE(r, t + milliseconds(0));
    prev = r;
  }
}

TEST(TrafficShaper, MessagesHandedOverTogetherShareOneLatencyDraw) {
  TrafficShaper s(0.005, 0);
  s.set_jitter(0.015, 11);
  auto t = Clock::now();
  std::set<Clock::rep> burst_delays, apart_delays;
  for (int b = 0; b < 50; ++b) {
    t += std::chrono::seconds(10);
    const auto first = s.release_time(100, t) - t;
    for (int i = 1; i < 4; ++i) {  // a pass's token messages, 100 us apart
      const auto at = t + std::chrono::microseconds(100 * i);
      EXPECT_EQ((s.release_time(100, at) - at).count(), first.count()) << b << " " << i;
    }
    burst_delays.insert(first.count());
  }
  EXPECT_GT(burst_delays.size(), 40u) << "each burst draws anew";
  for (int i = 0; i < 50; ++i) {  // 2 ms apart: separate draws
    t += milliseconds(2);
    apart_delays.insert((s.release_time(100, t) - t).count());
  }
  EXPECT_GT(apart_delays.size(), 40u);
}

TEST(TrafficShaper, AStreamOfCloseMessagesStillDrawsEveryMillisecond) {
  TrafficShaper s(0.005, 0);
  s.set_jitter(0.015, 5);
  auto t = Clock::now() + std::chrono::seconds(10);
  std::set<Clock::rep> delays;
  for (int i = 0; i < 400; ++i) {  // 0.25 ms apart for 100 ms: about 100 bursts
    t += std::chrono::microseconds(250);
    const auto r = s.release_time(100, t);
    if (r - t > milliseconds(0)) delays.insert((r - t).count());
  }
  EXPECT_GT(delays.size(), 50u);
}

TEST(TrafficShaper, LossStallsThatShareOfMessages) {
  TrafficShaper s(0.001, 0);
  s.set_loss(0.1, 0.2, 3);
  EXPECT_TRUE(s.enabled());
  const auto d = sorted_delays(s, 10000);
  const auto stalled = std::count_if(d.begin(), d.end(), [](double x) { return x > 0.1; });
  EXPECT_NEAR(static_cast<double>(stalled) / d.size(), 0.1, 0.01);
  EXPECT_NEAR(d.back(), 0.201, 1e-6);
}

}  // namespace
}  // namespace ll::net
