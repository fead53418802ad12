#include "kernels/ops.h"

#include <cmath>
#include <vector>

namespace ll::kernels {
namespace {

// 8 interleaved partial sums: vectorizable without reassociation, and a fixed order.
template <typename F>
float sum8(int64_t n, F term) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] = acc[j] + term(i + j);
  }
  float s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s = s + term(i);
  return s;
}

void scale_weight_bias(const float* x, float scale, const float* w, const float* b, float* y,
                       int64_t n, float shift) {
  for (int64_t i = 0; i < n; ++i) {
    float v = (x[i] - shift) * scale;
    if (w != nullptr) v = v * w[i];
    if (b != nullptr) v = v + b[i];
    y[i] = v;
  }
}

}  // namespace

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  float ss = sum8(n, [x](int64_t i) { return x[i] * x[i]; });
  float scale = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  scale_weight_bias(x, scale, w, nullptr, y, n, 0.0f);
}

void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps) {
  float mean = sum8(n, [x](int64_t i) { return x[i]; }) / static_cast<float>(n);
  // Two passes: the centered sum of squares does not cancel catastrophically.
  float var = sum8(n, [x, mean](int64_t i) { return (x[i] - mean) * (x[i] - mean); }) /
              static_cast<float>(n);
  scale_weight_bias(x, 1.0f / std::sqrt(var + eps), w, b, y, n, mean);
}

void softmax_inplace(float* x, int64_t n) {
  if (n <= 0) return;
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = x[i] > max ? x[i] : max;
  for (int64_t i = 0; i < n; ++i) x[i] = std::exp(x[i] - max);
  float inv = 1.0f / sum8(n, [x](int64_t i) { return x[i]; });
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * inv;
}

void silu(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void gelu(const float* x, float* y, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    y[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
  }
}

void mul(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

void add(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void rope_inplace(float* x, int n_head, int head_dim, int n_rot, int pos, float freq_base,
                  RopeStyle style, float freq_scale, const float* freq_factors) {
  const double p = freq_scale == 1.0f ? pos : pos * static_cast<double>(freq_scale);
  const int half = n_rot / 2;
  thread_local std::vector<float> cs;  // cos, sin interleaved
  cs.resize(2 * static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) {
    double theta = p * std::pow(static_cast<double>(freq_base), -2.0 * i / n_rot);
    if (freq_factors) theta /= freq_factors[i];
    cs[2 * i] = static_cast<float>(std::cos(theta));
    cs[2 * i + 1] = static_cast<float>(std::sin(theta));
  }
  // Adjacent pairs for kNormal; first and second half of the rotated dims for kNeox.
  const int step = style == RopeStyle::kNormal ? 2 : 1;
  const int other = style == RopeStyle::kNormal ? 1 : half;
  for (int h = 0; h < n_head; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      float c = cs[2 * i], s = cs[2 * i + 1];
      float x0 = v[i * step], x1 = v[i * step + other];
      v[i * step] = x0 * c - x1 * s;
      v[i * step + other] = x0 * s + x1 * c;
    }
  }
}

}  // namespace ll::kernels
