#include "core/latency_tail.h"

#include <algorithm>
#include <cmath>

namespace ll {

LatencyTail LatencyTail::from_median_p95(double median_s, double p95_s) {
  LatencyTail t;
  t.shift_s = std::max(0.0, median_s);
  if (!(p95_s > t.shift_s)) return t;
  t.tail_mean_s = (p95_s - t.shift_s) / std::log(10.0);
  t.shift_s -= t.tail_mean_s * std::log(2.0);
  if (t.shift_s < 0) {
    t.shift_s = 0;
    t.tail_mean_s = p95_s / std::log(20.0);
  }
  return t;
}

}  // namespace ll
