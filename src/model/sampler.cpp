#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace ll::model {

int32_t Sampler::argmax(const float* logits, int n_vocab) {
  int32_t best = 0;
  for (int32_t i = 1; i < n_vocab; ++i) {
    if (logits[i] > logits[best]) best = i;  // first index wins ties
  }
  return best;
}

// splitmix64: a full-period generator whose state is a single counter.
double Sampler::next_uniform() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

int32_t Sampler::sample(const float* logits, int n_vocab, const std::vector<int32_t>& history) {
  cand_.resize(n_vocab);
  for (int32_t i = 0; i < n_vocab; ++i) cand_[i] = {logits[i], i};
  if (p_.repeat_penalty != 1.0f && p_.repeat_last_n != 0) {
    const size_t n = p_.repeat_last_n < 0
                         ? history.size()
                         : std::min(history.size(), static_cast<size_t>(p_.repeat_last_n));
    std::unordered_set<int32_t> seen(history.end() - n, history.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= n_vocab) continue;
      float& l = cand_[t].first;
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
  }
  if (p_.temp <= 0) {
    int32_t best = 0;
    for (int32_t i = 1; i < n_vocab; ++i) {
      if (cand_[i].first > cand_[best].first) best = i;
    }
    return best;
  }
  // Sort by logit descending, index ascending on ties, so the order is fully determined.
  auto by_logit = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  size_t n = cand_.size();
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < n) {
    std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), by_logit);
    n = p_.top_k;
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  // Softmax with temperature, in double for stable cumulative sums.
  std::vector<double> prob(n);
  const double max_l = cand_[0].first;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    prob[i] = std::exp((cand_[i].first - max_l) / p_.temp);
    sum += prob[i];
  }
  for (double& p : prob) p /= sum;
  if (p_.min_p > 0) {
    const double floor = prob[0] * p_.min_p;
    size_t keep = 1;
    while (keep < n && prob[keep] >= floor) ++keep;
    n = keep;
  }
  if (p_.top_p < 1.0f) {
    double cum = 0;
    size_t keep = 0;
    while (keep < n) {
      cum += prob[keep++];
      if (cum >= p_.top_p) break;
    }
    n = keep;
  }
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += prob[i];
  double r = next_uniform() * total;
  for (size_t i = 0; i < n; ++i) {
    r -= prob[i];
    if (r < 0) return cand_[i].second;
  }
  return cand_[n - 1].second;
}

}  // namespace ll::model
