// Link emulation on the sending side, for a multi-device cluster on one machine (no netem):
// every outgoing message is serialized at bandwidth_bytes_per_s behind the ones before it,
// then delayed by added_latency_s. Release times never decrease, so a FIFO keeps order.
#pragma once

#include <chrono>
#include <cstddef>

namespace ll::net {

class TrafficShaper {
 public:
  using Clock = std::chrono::steady_clock;

  // 0 disables the corresponding effect.
  TrafficShaper(double added_latency_s, double bandwidth_bytes_per_s);

  bool enabled() const { return latency_.count() > 0 || bandwidth_ > 0; }

  // When a message of `bytes` handed over at `now` may be given to the socket.
  Clock::time_point release_time(size_t bytes, Clock::time_point now);

 private:
  Clock::duration latency_;
  double bandwidth_;
  Clock::time_point link_free_{};  // when the emulated wire finishes the previous message
};

}  // namespace ll::net
