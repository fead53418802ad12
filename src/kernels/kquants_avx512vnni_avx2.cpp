// Packed Q4_K/Q6_K products with VPDPBUSD from AVX512-VNNI (same bits as the maddubs path: the
// integer sums are exact either way). Enabled for this file by pragma.
//
// gemm_packed_k_avx512vnni runs the shared 256-bit kernels (kquants_packed_avx2.h);
// gemm_packed_k_avx512 runs two consecutive 8-row groups side by side in 512-bit vectors (lanes
// 0-7 the first group, 8-15 the second), as PairTile does for Q4_0: every instruction then does
// the work of two 256-bit ones, which is what K-quant decode needs to keep up with DRAM. Every
// lane still holds one row's exact integer sums and runs the canonical float update, so the
// bits equal the scalar reference's.
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vnni,avx512vl"))), \
                             apply_to = function)
#else
#pragma GCC target("avx512f,avx512vnni,avx512vl")
#endif

// GCC 12 reports its own AVX512 intrinsics' _mm512_undefined_* placeholders as uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/kquants_packed_avx2.h"

namespace ll::kernels::internal {
namespace {

struct VnniDotK {
  static __m256i dp(__m256i acc, __m256i u, __m256i x) { return _mm256_dpbusd_epi32(acc, u, x); }
};

// Software prefetch distances of a pair's two streams (L1, L2), in bytes of one group. Within
// noise of 1536..4096 and 8192..16384 on a Zen 5 EPYC; no L2 prefetch was no better.
constexpr size_t kPairAhead = 2048, kPairAheadL2 = 16384;

// 32 bytes at p and at p + stride: lanes 0-7 and 8-15.
inline __m512i load_pair(const uint8_t* p, size_t stride) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + stride)), 1);
}

inline __m128i load_u8x16_pair(const uint8_t* p, size_t stride) {
  return _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)),
                            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + stride)));
}

// 16 fp16 values, 8 at p and 8 at p + stride, as floats.
inline __m512 load_ph_pair(const uint8_t* p, size_t stride) {
  const __m256i h = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + stride)), 1);
  return _mm512_cvtph_ps(h);
}

inline __m512i bcast4z(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Requests the bytes [o, o + n) of a pair's groups `ahead` bytes further on. The pair's owner
// walks groups g, g + 1 together and then g + 2, g + 3: an offset past the group's end lands in
// the next pair. Nothing past `end` (the stream's end) is requested.
template <_mm_hint kHint, size_t kBytes>
inline void prefetch_pair(const uint8_t* grp, size_t stride, size_t o, size_t ahead,
                          const uint8_t* end) {
  size_t t = o + ahead;
  const uint8_t* base = grp;
  while (t >= stride) {
    t -= stride;
    base += 2 * stride;
  }
  const uint8_t* p = base + t;
  if (p + stride + kBytes > end) return;
#pragma GCC unroll 32
  for (size_t off = 0; off < kBytes; off += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + off), kHint);
    _mm_prefetch(reinterpret_cast<const char*>(p + stride + off), kHint);
  }
}

template <int B>
inline void act_rows(const GemmArgs& a, int64_t b0, const BlockQ8_K* x[B]) {
  for (int b = 0; b < B; ++b) {
    x[b] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a.x) +
                                              (b0 + b) * a.x_stride);
  }
}

template <int B>
inline void store_pair(const GemmArgs& a, int64_t g, int64_t b0, const __m512* acc) {
  for (int b = 0; b < B; ++b) {
    float* y = a.y + (b0 + b) * a.y_stride + 8 * g;
    _mm256_storeu_ps(y, _mm512_castps512_ps256(acc[b]));
    _mm256_storeu_ps(y + 8, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[b]), 1)));
  }
}

// Groups g, g + 1 of a packed Q4_K matrix times B activation rows from b0.
template <int B>
void q4k_pair(const GemmArgs& a, int64_t g, int64_t b0, const uint8_t* end) {
  const int64_t nb = a.n_cols / kQK_K;
  const size_t stride = a.w_stride;
  const uint8_t* grp = a.w + g * stride;
  const BlockQ8_K* x[B];
  act_rows<B>(a, b0, x);
  const __m512i low4 = _mm512_set1_epi32(0x0F0F0F0F);
  __m512 acc[B];
  for (int b = 0; b < B; ++b) acc[b] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* p = grp + i * kPackedQ4KBytes;
    if (end != nullptr) {
      prefetch_pair<_MM_HINT_T0, kPackedQ4KBytes>(grp, stride, i * kPackedQ4KBytes, kPairAhead,
                                                  end);
      prefetch_pair<_MM_HINT_T1, kPackedQ4KBytes>(grp, stride, i * kPackedQ4KBytes, kPairAheadL2,
                                                  end);
    }
    // Activation sums of sub-blocks 2q, 2q + 1 as an int16 pair in dword q (for the mins).
    alignas(16) int32_t pairs[B][4];
    for (int b = 0; b < B; ++b) {
      const __m256i s =
          _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b][i].bsums)),
                            _mm256_set1_epi16(1));
      _mm_store_si128(reinterpret_cast<__m128i*>(pairs[b]), _mm256_cvtepi32_epi16(s));
    }
    __m512i sumi[B], summ[B];
    for (int b = 0; b < B; ++b) sumi[b] = summ[b] = _mm512_setzero_si512();
    for (int q = 0; q < 4; ++q) {  // sub-blocks 2q (low nibbles) and 2q + 1 (high nibbles)
      // Two chains per sub-block for one row (VPDPBUSD's latency), one for batches.
      constexpr int C = B == 1 ? 2 : 1;
      __m512i lo_sum[B][C], hi_sum[B][C];
      for (int b = 0; b < B; ++b) {
        for (int c = 0; c < C; ++c) lo_sum[b][c] = hi_sum[b][c] = _mm512_setzero_si512();
      }
      for (int k = 0; k < 8; ++k) {
        const __m512i w = load_pair(p + 160 + (8 * q + k) * 32, stride);
        // High nibbles in place (16 * hi): VPDPBUSD does not saturate, the sum is divided after.
        const __m512i lo = _mm512_and_si512(w, low4), hi = _mm512_andnot_si512(low4, w);
        for (int b = 0; b < B; ++b) {
          const int8_t* xq = x[b][i].qs + 64 * q + 4 * k;
          lo_sum[b][k % C] = _mm512_dpbusd_epi32(lo_sum[b][k % C], lo, bcast4z(xq));
          hi_sum[b][k % C] = _mm512_dpbusd_epi32(hi_sum[b][k % C], hi, bcast4z(xq + 32));
        }
      }
      const __m512i sc_lo = _mm512_cvtepu8_epi32(load_u8x16_pair(p + 32 + 16 * q, stride));
      const __m512i sc_hi = _mm512_cvtepu8_epi32(load_u8x16_pair(p + 40 + 16 * q, stride));
      // Mins of sub-blocks 2q, 2q + 1 as int16 pairs, row by row.
      const __m512i m = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_cvtepu8_epi16(
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 96 + 16 * q)))),
          _mm256_cvtepu8_epi16(
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + stride + 96 + 16 * q))),
          1);
      for (int b = 0; b < B; ++b) {
        __m512i tl = lo_sum[b][0], th = hi_sum[b][0];
        if constexpr (C == 2) {
          tl = _mm512_add_epi32(tl, lo_sum[b][1]);
          th = _mm512_add_epi32(th, hi_sum[b][1]);
        }
        th = _mm512_srai_epi32(th, 4);  // exact: every product was a multiple of 16
        sumi[b] = _mm512_add_epi32(sumi[b], _mm512_add_epi32(_mm512_mullo_epi32(tl, sc_lo),
                                                             _mm512_mullo_epi32(th, sc_hi)));
        summ[b] = _mm512_dpwssd_epi32(summ[b], m, _mm512_set1_epi32(pairs[b][q]));
      }
    }
    const __m512 d = load_ph_pair(p, stride), dmin = load_ph_pair(p + 16, stride);
    for (int b = 0; b < B; ++b) {
      const __m512 vdx = _mm512_set1_ps(x[b][i].d);
      const __m512 t1 = _mm512_mul_ps(_mm512_cvtepi32_ps(sumi[b]), _mm512_mul_ps(d, vdx));
      const __m512 t2 = _mm512_mul_ps(_mm512_cvtepi32_ps(summ[b]), _mm512_mul_ps(dmin, vdx));
      acc[b] = _mm512_add_ps(acc[b], _mm512_sub_ps(t1, t2));
    }
  }
  store_pair<B>(a, g, b0, acc);
}

// Groups g, g + 1 of a packed Q6_K matrix times B activation rows from b0.
template <int B>
void q6k_pair(const GemmArgs& a, int64_t g, int64_t b0, const uint8_t* end) {
  const int64_t nb = a.n_cols / kQK_K;
  const size_t stride = a.w_stride;
  const uint8_t* grp = a.w + g * stride;
  const BlockQ8_K* x[B];
  act_rows<B>(a, b0, x);
  const __m512i low4 = _mm512_set1_epi32(0x0F0F0F0F), bits45 = _mm512_set1_epi32(0x30303030);
  __m512 acc[B];
  for (int b = 0; b < B; ++b) acc[b] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* p = grp + i * kPackedQ6KBytes;
    if (end != nullptr) {
      prefetch_pair<_MM_HINT_T0, kPackedQ6KBytes>(grp, stride, i * kPackedQ6KBytes, kPairAhead,
                                                  end);
      prefetch_pair<_MM_HINT_T1, kPackedQ6KBytes>(grp, stride, i * kPackedQ6KBytes, kPairAheadL2,
                                                  end);
    }
    // Quants are used as q + 32: each sub-block's chain starts from -32 * (sum of its x).
    alignas(64) int32_t offset[B][16];
    for (int b = 0; b < B; ++b) {
      const __m512i s = _mm512_cvtepi16_epi32(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b][i].bsums)));
      _mm512_store_si512(offset[b],
                         _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s, 5)));
    }
    __m512i sumi[B];
    for (int b = 0; b < B; ++b) sumi[b] = _mm512_setzero_si512();
    // Sub-block j = 8 h + 2 k + half (see kquants_packed_avx2.h); ql vectors with k % 2 == kk
    // hold sub-blocks k = kk (low nibbles) and k = kk + 2 (high nibbles). One row takes both kk
    // per pass (the qh vector is loaded once); batches one kk (registers).
    constexpr int KK = B == 1 ? 2 : 1;
    for (int h = 0; h < 2; ++h) {
      for (int half = 0; half < 2; ++half) {
        for (int k0 = 0; k0 < 2; k0 += KK) {
          __m512i t_lo[KK][B], t_hi[KK][B];
          for (int c = 0; c < KK; ++c) {
            const int j_lo = 8 * h + 2 * (k0 + c) + half;
            for (int b = 0; b < B; ++b) {
              t_lo[c][b] = _mm512_set1_epi32(offset[b][j_lo]);
              t_hi[c][b] = _mm512_set1_epi32(offset[b][j_lo + 4]);
            }
          }
          for (int w = 0; w < 4; ++w) {
            const __m512i hb = load_pair(p + 1168 + (8 * h + 4 * half + w) * 32, stride);
            for (int c = 0; c < KK; ++c) {
              const int kk = k0 + c;
              const __m512i l = load_pair(p + 144 + (16 * h + 8 * kk + 4 * half + w) * 32, stride);
              // Bits 2k of qh into bits 4-5, or'ed with the nibble (ternary logic A | (B & C)).
              const __m512i hi_lo = kk == 0 ? _mm512_slli_epi32(hb, 4) : _mm512_slli_epi32(hb, 2);
              const __m512i hi_hi = kk == 0 ? hb : _mm512_srli_epi32(hb, 2);
              const __m512i u_lo =
                  _mm512_ternarylogic_epi32(_mm512_and_si512(l, low4), hi_lo, bits45, 0xF8);
              const __m512i u_hi = _mm512_ternarylogic_epi32(
                  _mm512_and_si512(_mm512_srli_epi32(l, 4), low4), hi_hi, bits45, 0xF8);
              for (int b = 0; b < B; ++b) {
                const int8_t* xq = x[b][i].qs + 128 * h + 16 * half + 4 * w;
                t_lo[c][b] = _mm512_dpbusd_epi32(t_lo[c][b], u_lo, bcast4z(xq + 32 * kk));
                t_hi[c][b] = _mm512_dpbusd_epi32(t_hi[c][b], u_hi, bcast4z(xq + 32 * (kk + 2)));
              }
            }
          }
          for (int c = 0; c < KK; ++c) {
            const int j_lo = 8 * h + 2 * (k0 + c) + half, j_hi = j_lo + 4;
            const __m512i sc_lo = _mm512_cvtepi8_epi32(load_u8x16_pair(p + 16 + 8 * j_lo, stride));
            const __m512i sc_hi = _mm512_cvtepi8_epi32(load_u8x16_pair(p + 16 + 8 * j_hi, stride));
            for (int b = 0; b < B; ++b) {
              sumi[b] = _mm512_add_epi32(sumi[b],
                                         _mm512_add_epi32(_mm512_mullo_epi32(t_lo[c][b], sc_lo),
                                                          _mm512_mullo_epi32(t_hi[c][b], sc_hi)));
            }
          }
        }
      }
    }
    const __m512 d = load_ph_pair(p, stride);
    for (int b = 0; b < B; ++b) {
      const __m512 vdx = _mm512_set1_ps(x[b][i].d);
      acc[b] =
          _mm512_add_ps(acc[b], _mm512_mul_ps(_mm512_cvtepi32_ps(sumi[b]), _mm512_mul_ps(d, vdx)));
    }
  }
  store_pair<B>(a, g, b0, acc);
}

template <int B>
void pair_tile(const GemmArgs& a, int64_t g, int64_t b0, const uint8_t* end) {
  if (a.wtype == DType::kQ4_K) return q4k_pair<B>(a, g, b0, end);
  q6k_pair<B>(a, g, b0, end);
}

// One group alone (the odd one at a range's end, stolen groups): the 256-bit kernels.
void single_group(const GemmArgs& a, int64_t g) {
  packed_k_group<VnniDotK>(a, g);
}

// Every batch column of groups g, g + 1, four at a time: the first tile prefetches along the
// stream (end), the others find the pair in L1/L2.
void pair_columns(const GemmArgs& a, int64_t g, const uint8_t* end) {
  int64_t b = 0;
  for (; b + 4 <= a.n_batch; b += 4, end = nullptr) pair_tile<4>(a, g, b, end);
  switch (a.n_batch - b) {
    case 3:
      return pair_tile<3>(a, g, b, end);
    case 2:
      return pair_tile<2>(a, g, b, end);
    case 1:
      return pair_tile<1>(a, g, b, end);
    default:
      return;
  }
}

// Decode and small batches (up to kPackedStreamBatch columns): each thread streams its groups
// two at a time, prefetched.
void stream_pairs(const GemmArgs& a, int64_t r0, int64_t r1) {
  const DecodeStream s = start_decode_stream(a, r0, r1, kPairAheadL2);
  if (a.claims == nullptr) {
    int64_t g = s.first;
    for (; g + 2 <= s.last; g += 2) pair_columns(a, g, s.end);
    if (g < s.last) single_group(a, g);
    return;
  }
  // Own groups a chunk at a time from the front, in pairs, then the others' tails one group at
  // a time.
  GroupClaim& own = a.claims[a.thread];
  constexpr int64_t kChunk = 8;
  for (int64_t g0, n; (n = own.take_front_chunk(kChunk, &g0)) > 0;) {
    int64_t g = g0;
    for (; g + 2 <= g0 + n; g += 2) pair_columns(a, g, s.end);
    if (g < g0 + n) single_group(a, g);
  }
  // The others' tails, two groups at a time when they are consecutive (the pair kernel computes
  // twice as fast as the single-group one); stolen groups are requested whole first, as in
  // for_each_stolen_group.
  for (int o = 1; o < a.n_claims; ++o) {
    GroupClaim& other = a.claims[(a.thread + o) % a.n_claims];
    for (int64_t g; (g = other.take_back()) >= 0;) {
      const int64_t g2 = other.take_back();
      if (g2 == g - 1) {
        prefetch_bytes<3>(a.w + g2 * a.w_stride, 2 * a.w_stride);
        pair_columns(a, g2, nullptr);
        continue;
      }
      for (int64_t h : {g, g2}) {
        if (h < 0) continue;
        prefetch_bytes<3>(a.w + h * a.w_stride, a.w_stride);
        single_group(a, h);
      }
    }
  }
}

void matmul_pairs(const GemmArgs& a, int64_t r0, int64_t r1) {
  constexpr int kTile = 4;
  int64_t g = r0 / 8;
  for (; g + 2 <= r1 / 8; g += 2) {
    int64_t b = 0;
    for (; b + kTile <= a.n_batch; b += kTile) pair_tile<kTile>(a, g, b, nullptr);
    for (; b < a.n_batch; ++b) pair_tile<1>(a, g, b, nullptr);
  }
  if (g < r1 / 8) single_group(a, g);
}

}  // namespace

void gemm_packed_k_avx512vnni(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_packed_k<VnniDotK>(a, r0, r1);
}

void gemm_packed_k_avx512(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (a.n_batch <= kPackedStreamBatch) return stream_pairs(a, r0, r1);
  if (a.claims != nullptr) {
    auto one = [&](int64_t g) { single_group(a, g); };
    return for_each_claimed_group(a, one, one);
  }
  matmul_pairs(a, r0, r1);
}

}  // namespace ll::kernels::internal

#if defined(__clang__)
#pragma clang attribute pop
#endif
