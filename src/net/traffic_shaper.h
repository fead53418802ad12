// Link emulation on the sending side, for a multi-device cluster on one machine (no netem):
// every outgoing message is serialized at bandwidth_bytes_per_s behind the ones before it,
// then delayed by a latency: added_latency_s, or with jitter a draw from a shifted exponential
// whose median is added_latency_s and 95th percentile latency_p95_s (Wi-Fi latency has such a
// long right tail). With loss_rate, that share of messages is also held back by stall_s, as
// TCP holds a stream back to retransmit a lost segment. Release times never decrease, so a
// FIFO keeps order (a late message delays the ones behind it, as on a real link).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>

#include "core/latency_tail.h"

namespace ll::net {

class TrafficShaper {
 public:
  using Clock = std::chrono::steady_clock;

  // 0 disables the corresponding effect.
  TrafficShaper(double added_latency_s, double bandwidth_bytes_per_s);

  // Jitter and loss (see above); seed makes the draws reproducible.
  void set_jitter(double latency_p95_s, uint64_t seed);
  void set_loss(double loss_rate, double stall_s, uint64_t seed);

  bool enabled() const { return latency_.count() > 0 || bandwidth_ > 0 || loss_ > 0; }

  // When a message of `bytes` handed over at `now` may be given to the socket.
  Clock::time_point release_time(size_t bytes, Clock::time_point now);

 private:
  Clock::duration latency_;
  double bandwidth_;
  Clock::time_point link_free_{};  // when the emulated wire finishes the previous message
  Clock::time_point last_release_{};
  // Messages handed over within kBurstGap of a draw share it, as a Wi-Fi link aggregates
  // frames queued together: drawn apart, the last of a pass's token messages came at the
  // worst of several draws, and the ring's round trip grew by most of a p95. The window runs
  // from the draw, so a long stream of close messages still draws every millisecond.
  static constexpr Clock::duration kBurstGap = std::chrono::milliseconds(1);
  bool drew_ = false;
  Clock::time_point burst_start_{};
  Clock::duration last_delay_{};
  LatencyTail jitter_;  // fixed until set_jitter()
  double loss_ = 0, stall_s_ = 0;
  std::mt19937_64 rng_{1};
};

}  // namespace ll::net
