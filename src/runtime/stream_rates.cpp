#include "runtime/stream_rates.h"

#include <algorithm>

namespace ll::runtime {

StreamRates::StreamRates(int n_streams)
    : first_(std::max(0, n_streams), -1.0), last_(std::max(0, n_streams), 0.0) {}

void StreamRates::on_token(int stream, double t_s) {
  if (stream < 0 || stream >= static_cast<int>(first_.size())) return;
  if (first_[stream] < 0) first_[stream] = t_s;
  last_[stream] = t_s;
  times_.push_back(t_s);
}

double StreamRates::decode_tok_s() const {
  if (times_.size() <= first_.size()) return 0;
  const auto [lo, hi] = std::minmax_element(times_.begin(), times_.end());
  const double span = *hi - *lo;
  return span > 0 ? (times_.size() - first_.size()) / span : 0;
}

double StreamRates::steady_tok_s() const {
  if (first_.empty() || std::any_of(first_.begin(), first_.end(), [](double t) { return t < 0; }))
    return 0;
  const double t0 = *std::max_element(first_.begin(), first_.end());
  const double t1 = *std::min_element(last_.begin(), last_.end());
  size_t n = 0;
  for (double t : times_) n += t > t0 && t <= t1;
  if (!(t1 > t0) || n < 2 * first_.size()) return 0;
  return n / (t1 - t0);
}

}  // namespace ll::runtime
