// A link's one-way latency with a long right tail, as Wi-Fi has: shift + Exp(tail_mean), fitted
// to a median and a 95th percentile. The emulator draws its link delays from it and the planner
// takes its mean and simulates with it, so both describe one distribution.
#pragma once

#include <random>

namespace ll {

struct LatencyTail {
  double shift_s = 0;      // the least latency
  double tail_mean_s = 0;  // mean of the exponential part; 0 = a fixed latency of shift_s

  // p95 <= median gives a fixed latency. p95 - median = tail_mean * ln(10) and the median is
  // shift + tail_mean * ln(2); a p95 above 4.3x the median would need a negative shift, so the
  // shift stops at 0 and the p95 is kept (the median then comes out lower).
  static LatencyTail from_median_p95(double median_s, double p95_s);

  double mean_s() const { return shift_s + tail_mean_s; }
  bool fixed() const { return !(tail_mean_s > 0); }
  template <class Rng>
  double draw(Rng& rng) const {
    if (fixed()) return shift_s;
    return shift_s + std::exponential_distribution<double>(1.0 / tail_mean_s)(rng);
  }
};

}  // namespace ll
