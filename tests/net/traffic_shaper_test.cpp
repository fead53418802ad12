#include "net/traffic_shaper.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ll::net
