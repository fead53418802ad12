#include <cmath>
#include <vector>

#include "kernels/kernels_internal.h"
#include "kernels/ops.h"

namespace ll::kernels {

void attention(const float* q, const float* k_cache, const float* v_cache, int n_kv, int n_head,
               int n_head_kv, int head_dim, float scale, float* out, const float* alibi_slopes,
               Isa isa) {
  attention_heads(q, k_cache, v_cache, n_kv, n_head, n_head_kv, head_dim, scale, out, alibi_slopes,
                  0, n_head, isa);
}

void attention_heads(const float* q, const float* k_cache, const float* v_cache, int n_kv,
                     int n_head, int n_head_kv, int head_dim, float scale, float* out,
                     const float* alibi_slopes, int h_begin, int h_end, Isa isa) {
  const internal::KernelTable& kt = internal::table_for(resolve_isa(isa));
  const int group = n_head / n_head_kv;
  const int64_t pos_stride = static_cast<int64_t>(n_head_kv) * head_dim;
  thread_local std::vector<float> scores;
  scores.resize(n_kv > 0 ? n_kv : 1);
  for (int h = h_begin; h < h_end; ++h) {
    const float* qh = q + static_cast<int64_t>(h) * head_dim;
    const int64_t kv_off = static_cast<int64_t>(h / group) * head_dim;
    float* oh = out + static_cast<int64_t>(h) * head_dim;
    for (int d = 0; d < head_dim; ++d) oh[d] = 0.0f;
    if (n_kv <= 0) continue;
    float max = -INFINITY;
    for (int j = 0; j < n_kv; ++j) {
      float s = kt.dot_f32(qh, k_cache + j * pos_stride + kv_off, head_dim) * scale;
      if (alibi_slopes != nullptr) s = s + alibi_slopes[h] * static_cast<float>(j - (n_kv - 1));
      scores[j] = s;
      max = s > max ? s : max;
    }
    // Accumulate unnormalized weights in position order and normalize once at the end.
    float sum = 0.0f;
    for (int j = 0; j < n_kv; ++j) {
      float e = std::exp(scores[j] - max);
      sum = sum + e;
      kt.axpy_f32(e, v_cache + j * pos_stride + kv_off, oh, head_dim);
    }
    float inv = 1.0f / sum;
    for (int d = 0; d < head_dim; ++d) oh[d] = oh[d] * inv;
  }
}

}  // namespace ll::kernels
