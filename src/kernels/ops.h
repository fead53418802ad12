// Element-wise and normalization operators of the forward pass, plus single-query attention.
// All are deterministic: fixed reduction orders, results depend only on the inputs.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace ll::kernels {

// y = x / sqrt(mean(x^2) + eps) * w (w may be null = 1). y may alias x.
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);
// y = (x - mean) / sqrt(var + eps) * w + b (w, b may be null). y may alias x.
void layer_norm(const float* x, const float* w, const float* b, float* y, int64_t n, float eps);
void softmax_inplace(float* x, int64_t n);
// y = x * sigmoid(x); y may alias x.
void silu(const float* x, float* y, int64_t n);
// Tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); y may alias x.
void gelu(const float* x, float* y, int64_t n);
// y = a * b element-wise (SwiGLU gating); y may alias either.
void mul(const float* a, const float* b, float* y, int64_t n);
// y = a + b element-wise (residuals); y may alias either.
void add(const float* a, const float* b, float* y, int64_t n);

enum class RopeStyle {
  kNormal,  // rotates adjacent pairs (x[2i], x[2i+1]): llama GGUF
  kNeox,    // rotates (x[i], x[i + n_rot/2]): qwen2, gpt-neox, phi
};

// Rotates the first n_rot dims of each of the n_head vectors x[h][0..head_dim) by angles
// pos * freq_scale * freq_base^(-2i/n_rot) / freq_factors[i] (freq_scale < 1: linear rope
// scaling; freq_factors, nullable, [n_rot / 2]: llama-3.1 style per-dimension scaling). Angles
// and their sin/cos are computed in double, so the result depends only on (pos, i) and the input.
void rope_inplace(float* x, int n_head, int head_dim, int n_rot, int pos, float freq_base,
                  RopeStyle style, float freq_scale = 1.0f, const float* freq_factors = nullptr);

// Attention of one query position over cached keys/values 0..n_kv-1:
// out[h] = sum_j softmax_j(scale * q[h].k[j][g] + alibi) v[j][g], g = h / (n_head / n_head_kv).
// q, out: [n_head][head_dim]; k_cache, v_cache: [>= n_kv][n_head_kv][head_dim].
// alibi_slopes (nullable, per head) adds slope * (j - (n_kv - 1)) to score j. The result is
// the same whether this query is computed during prefill or decode.
void attention(const float* q, const float* k_cache, const float* v_cache, int n_kv, int n_head,
               int n_head_kv, int head_dim, float scale, float* out, const float* alibi_slopes,
               Isa isa = Isa::kBest);
// Heads [h_begin, h_end) only, with exactly the bits attention() gives them: a single query's
// heads can be split across threads.
void attention_heads(const float* q, const float* k_cache, const float* v_cache, int n_kv,
                     int n_head, int n_head_kv, int head_dim, float scale, float* out,
                     const float* alibi_slopes, int h_begin, int h_end, Isa isa = Isa::kBest);

}  // namespace ll::kernels
