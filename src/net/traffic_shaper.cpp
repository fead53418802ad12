#include "net/traffic_shaper.h"

#include <algorithm>

namespace ll::net {

namespace {
TrafficShaper::Clock::duration seconds(double s) {
  return std::chrono::duration_cast<TrafficShaper::Clock::duration>(
      std::chrono::duration<double>(s));
}
}  // namespace

TrafficShaper::TrafficShaper(double added_latency_s, double bandwidth_bytes_per_s)
    : latency_(seconds(std::max(0.0, added_latency_s))),
      bandwidth_(std::max(0.0, bandwidth_bytes_per_s)) {}

TrafficShaper::Clock::time_point TrafficShaper::release_time(size_t bytes, Clock::time_point now) {
  Clock::time_point sent = now;
  if (bandwidth_ > 0) {
    // Zero-depth token bucket: an idle link does not bank credit, so each message pays
    // its full serialization time after whatever is still on the wire.
    link_free_ = std::max(link_free_, now) + seconds(static_cast<double>(bytes) / bandwidth_);
    sent = link_free_;
  }
  return sent + latency_;
}

}  // namespace ll::net
