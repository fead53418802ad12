// Packed Q4_K/Q6_K products (packed.h) for one dot policy, included by kquants_avx2.cpp
// (maddubs + madd) and the VNNI translation units (VPDPBUSD), each compiling it for its own
// instruction set (hence the unnamed namespace).
//
// Lane r of every vector is row r of an 8-row group: 4 quant bytes of that row against the same
// 4 activation bytes broadcast to all lanes, so each instruction advances 8 dots. Per
// sub-block the exact integer sum t_j is multiplied by the row's scale (VPMULLD), and per
// super-block the float update runs on 8 lanes with the scalar reference's operations in its
// order (no fused ops), so every lane equals the scalar reference's dot bit for bit.
#pragma once

#include <immintrin.h>

#include "kernels/kernels_internal.h"

namespace ll::kernels::internal {
namespace {

// Software prefetch distance of the packed stream (decode reads it once).
constexpr size_t kPackedKAhead = 2048;

inline __m256i bcast32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline __m256i load_u8x8_epi32(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

inline __m256i load_i8x8_epi32(const uint8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

inline __m256i vload(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

inline void prefetch_block(const uint8_t* p, size_t n) {
  for (size_t off = 0; off < n; off += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + kPackedKAhead + off), _MM_HINT_T0);
  }
}

// acc + (float(sumi) * (d * dx) - float(summ) * (dmin * dx)), lane by lane.
inline __m256 k_update(__m256 acc, __m256i sumi, __m256i summ, __m256 d, __m256 dmin, float dx) {
  const __m256 vdx = _mm256_set1_ps(dx);
  const __m256 t1 = _mm256_mul_ps(_mm256_cvtepi32_ps(sumi), _mm256_mul_ps(d, vdx));
  const __m256 t2 = _mm256_mul_ps(_mm256_cvtepi32_ps(summ), _mm256_mul_ps(dmin, vdx));
  return _mm256_add_ps(acc, _mm256_sub_ps(t1, t2));
}

template <class Dot, int B>
void q4k_group(const GemmArgs& a, int64_t g, int64_t b0) {
  const int64_t nb = a.n_cols / kQK_K;
  const uint8_t* grp = a.w + g * a.w_stride;
  const BlockQ8_K* x[B];
  for (int b = 0; b < B; ++b) {
    x[b] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a.x) +
                                              (b0 + b) * a.x_stride);
  }
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc[B];
  for (int b = 0; b < B; ++b) acc[b] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* p = grp + i * kPackedQ4KBytes;
    if (b0 == 0) prefetch_block(p, kPackedQ4KBytes);  // the group's first column tile
    __m256i sumi[B], summ[B];
    for (int b = 0; b < B; ++b) sumi[b] = summ[b] = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {  // sub-block j: nibble j % 2 of vectors 8 (j / 2) ..
      __m256i t[B];
      for (int b = 0; b < B; ++b) t[b] = _mm256_setzero_si256();
      for (int k = 0; k < 8; ++k) {
        const __m256i v = vload(p + 160 + (8 * (j / 2) + k) * 32);
        const __m256i u = j % 2 == 0 ? _mm256_and_si256(v, low4)
                                     : _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        for (int b = 0; b < B; ++b) {
          t[b] = Dot::dp(t[b], u, bcast32(x[b][i].qs + 64 * (j / 2) + 32 * (j % 2) + 4 * k));
        }
      }
      const __m256i sc = load_u8x8_epi32(p + 32 + 8 * j);
      for (int b = 0; b < B; ++b) sumi[b] = _mm256_add_epi32(sumi[b], _mm256_mullo_epi32(t[b], sc));
    }
    for (int q = 0; q < 4; ++q) {  // mins of sub-blocks 2q, 2q + 1 as int16 pairs
      const __m256i m =
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 96 + 16 * q)));
      for (int b = 0; b < B; ++b) {
        const int16_t* bs = x[b][i].bsums + 4 * q;
        const uint32_t pair = static_cast<uint16_t>(bs[0] + bs[1]) |
                              static_cast<uint32_t>(static_cast<uint16_t>(bs[2] + bs[3])) << 16;
        summ[b] = _mm256_add_epi32(summ[b],
                                   _mm256_madd_epi16(m, _mm256_set1_epi32(static_cast<int>(pair))));
      }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
    for (int b = 0; b < B; ++b) acc[b] = k_update(acc[b], sumi[b], summ[b], d, dmin, x[b][i].d);
  }
  for (int b = 0; b < B; ++b) _mm256_storeu_ps(a.y + (b0 + b) * a.y_stride + 8 * g, acc[b]);
}

template <class Dot, int B>
void q6k_group(const GemmArgs& a, int64_t g, int64_t b0) {
  const int64_t nb = a.n_cols / kQK_K;
  const uint8_t* grp = a.w + g * a.w_stride;
  const BlockQ8_K* x[B];
  for (int b = 0; b < B; ++b) {
    x[b] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a.x) +
                                              (b0 + b) * a.x_stride);
  }
  const __m256i low4 = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
  __m256 acc[B];
  for (int b = 0; b < B; ++b) acc[b] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* p = grp + i * kPackedQ6KBytes;
    if (b0 == 0) prefetch_block(p, kPackedQ6KBytes);  // the group's first column tile
    __m256i sumi[B];
    for (int b = 0; b < B; ++b) sumi[b] = _mm256_setzero_si256();
    // Sub-block j = 8 h + 2 k + half: elements 128 h + 32 k + 16 half + 4 w', w' < 4, from ql
    // vector 16 h + 8 (k % 2) + 4 half + w' (nibble k / 2) and qh vector 8 h + 4 half + w'
    // (bits 2 k).
    for (int j = 0; j < 16; ++j) {
      const int h = j / 8, k = j % 8 / 2, half = j % 2;
      __m256i t[B];
      for (int b = 0; b < B; ++b) t[b] = _mm256_setzero_si256();
      for (int w = 0; w < 4; ++w) {
        const __m256i l = vload(p + 144 + (16 * h + 8 * (k % 2) + 4 * half + w) * 32);
        const __m256i hb = vload(p + 1168 + (8 * h + 4 * half + w) * 32);
        const __m256i lo =
            k < 2 ? _mm256_and_si256(l, low4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), three);
        const __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
        for (int b = 0; b < B; ++b) {
          t[b] = Dot::dp(t[b], u, bcast32(x[b][i].qs + 128 * h + 32 * k + 16 * half + 4 * w));
        }
      }
      // Quants were used as q + 32: remove 32 * (sum of the sub-block's x) before the scale.
      const __m256i sc = load_i8x8_epi32(p + 16 + 8 * j);
      for (int b = 0; b < B; ++b) {
        const __m256i s = _mm256_sub_epi32(t[b], _mm256_set1_epi32(32 * x[b][i].bsums[j]));
        sumi[b] = _mm256_add_epi32(sumi[b], _mm256_mullo_epi32(s, sc));
      }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    for (int b = 0; b < B; ++b) {
      const __m256 vdx = _mm256_set1_ps(x[b][i].d);
      acc[b] =
          _mm256_add_ps(acc[b], _mm256_mul_ps(_mm256_cvtepi32_ps(sumi[b]), _mm256_mul_ps(d, vdx)));
    }
  }
  for (int b = 0; b < B; ++b) _mm256_storeu_ps(a.y + (b0 + b) * a.y_stride + 8 * g, acc[b]);
}

template <class Dot>
void packed_k_group(const GemmArgs& a, int64_t g) {
  constexpr int kTile = 4;
  const bool q4 = a.wtype == DType::kQ4_K;
  int64_t b = 0;
  for (; b + kTile <= a.n_batch; b += kTile) {
    q4 ? q4k_group<Dot, kTile>(a, g, b) : q6k_group<Dot, kTile>(a, g, b);
  }
  for (; b < a.n_batch; ++b) q4 ? q4k_group<Dot, 1>(a, g, b) : q6k_group<Dot, 1>(a, g, b);
}

template <class Dot>
void gemm_packed_k(const GemmArgs& a, int64_t r0, int64_t r1) {
  auto group = [&](int64_t g) { packed_k_group<Dot>(a, g); };
  if (a.claims != nullptr) return for_each_claimed_group(a, group, group);
  for (int64_t g = r0 / 8; g < r1 / 8; ++g) group(g);
}

}  // namespace
}  // namespace ll::kernels::internal
