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

namespace internal {

void attend_head_generic(const KernelTable& kt, const AttendHead& h) {
  float* oh = h.out;
  for (int d = 0; d < h.head_dim; ++d) oh[d] = 0.0f;
  if (h.n_kv <= 0) return;
  float max = -INFINITY;
  for (int j = 0; j < h.n_kv; ++j) {
    float s = kt.dot_f32(h.q, h.k + j * h.pos_stride, h.head_dim) * h.scale;
    if (h.alibi_slope != nullptr) s = s + *h.alibi_slope * static_cast<float>(j - (h.n_kv - 1));
    h.scores[j] = s;
    max = s > max ? s : max;
  }
  // Accumulate unnormalized weights in position order and normalize once at the end.
  float sum = 0.0f;
  for (int j = 0; j < h.n_kv; ++j) {
    float e = std::exp(h.scores[j] - max);
    sum = sum + e;
    kt.axpy_f32(e, h.v + j * h.pos_stride, oh, h.head_dim);
  }
  float inv = 1.0f / sum;
  for (int d = 0; d < h.head_dim; ++d) oh[d] = oh[d] * inv;
}

}  // namespace internal

void attention_heads(const float* q, const float* k_cache, const float* v_cache, int n_kv,
                     int n_head, int n_head_kv, int head_dim, float scale, float* out,
                     const float* alibi_slopes, int h_begin, int h_end, Isa isa) {
  const internal::KernelTable& kt = internal::table_for(resolve_isa(isa));
  const int group = n_head / n_head_kv;
  const int64_t pos_stride = static_cast<int64_t>(n_head_kv) * head_dim;
  thread_local std::vector<float> scores;
  scores.resize(n_kv > 0 ? n_kv : 1);
  for (int h = h_begin; h < h_end; ++h) {
    const int64_t kv_off = static_cast<int64_t>(h / group) * head_dim;
    const internal::AttendHead a{q + static_cast<int64_t>(h) * head_dim,
                                 k_cache + kv_off,
                                 v_cache + kv_off,
                                 n_kv,
                                 pos_stride,
                                 head_dim,
                                 scale,
                                 alibi_slopes != nullptr ? alibi_slopes + h : nullptr,
                                 scores.data(),
                                 out + static_cast<int64_t>(h) * head_dim};
    if (kt.attend_head == nullptr || !kt.attend_head(a)) internal::attend_head_generic(kt, a);
  }
}

}  // namespace ll::kernels
