// Token sampling: greedy, temperature, top-k, top-p, min-p and repetition penalty. The RNG is
// our own 64-bit generator whose whole state is one integer, so a sampler can be carried to
// another device and continue with identical results.
#pragma once

#include <cstdint>
#include <vector>

namespace ll::model {

struct SamplerParams {
  float temp = 0.8f;            // <= 0: greedy
  int top_k = 40;               // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;
  uint64_t seed = 0;
  // The tail samples nothing for this sequence: it returns the log-probability of each logits
  // row's next token in the batch (perplexity over a ring, runtime/score.h).
  bool score = false;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p) : p_(p), state_(p.seed) {}

  // history: tokens generated or prompted so far (for the repetition penalty).
  int32_t sample(const float* logits, int n_vocab, const std::vector<int32_t>& history);
  static int32_t argmax(const float* logits, int n_vocab);

  uint64_t rng_state() const { return state_; }
  void set_rng_state(uint64_t s) { state_ = s; }
  const SamplerParams& params() const { return p_; }

 private:
  double next_uniform();  // [0, 1)
  SamplerParams p_;
  uint64_t state_;
  std::vector<std::pair<float, int32_t>> cand_;
};

}  // namespace ll::model
