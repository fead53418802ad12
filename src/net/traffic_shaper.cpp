#include "net/traffic_shaper.h"

#include <algorithm>
#include <cmath>

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

void TrafficShaper::set_jitter(double latency_p95_s, uint64_t seed) {
  const double median = std::chrono::duration<double>(latency_).count();
  if (!(latency_p95_s > median)) return;
  jitter_ = LatencyTail::from_median_p95(median, latency_p95_s);
  rng_.seed(seed);
}

void TrafficShaper::set_loss(double loss_rate, double stall_s, uint64_t seed) {
  loss_ = std::clamp(loss_rate, 0.0, 1.0);
  stall_s_ = std::max(0.0, stall_s);
  if (jitter_.fixed()) rng_.seed(seed);
}

TrafficShaper::Clock::time_point TrafficShaper::release_time(size_t bytes, Clock::time_point now) {
  Clock::time_point sent = now;
  if (bandwidth_ > 0) {
    // Zero-depth token bucket: an idle link does not bank credit, so each message pays
    // its full serialization time after whatever is still on the wire.
    link_free_ = std::max(link_free_, now) + seconds(static_cast<double>(bytes) / bandwidth_);
    sent = link_free_;
  }
  Clock::duration delay = latency_;
  if (!jitter_.fixed()) {
    if (drew_ && now - burst_start_ <= kBurstGap) {
      delay = last_delay_;  // handed over with the burst's first: they travel together
    } else {
      delay = seconds(jitter_.draw(rng_));
      drew_ = true;
      burst_start_ = now;
      last_delay_ = delay;
    }
  }
  if (loss_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < loss_)
    delay += seconds(stall_s_);
  last_release_ = std::max(last_release_, sent + delay);
  return last_release_;
}

}  // namespace ll::net
