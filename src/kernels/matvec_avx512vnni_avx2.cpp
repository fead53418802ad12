// Quantized-weight gemm using VPDPBUSD from AVX512-VNNI with 256-bit vectors (Ice Lake, Zen 4),
// selected at run time when the CPU has it. The integer lanes equal the maddubs/madd path's
// exactly, so results are bit-identical to it; VPDPBUSD just needs one instruction where AVX2 needs
// two or three on ports 0/1. Packed decode and small batches (up to kPackedStreamBatch rows) use
// 512-bit vectors instead, two 8-row groups per vector (PairTile). The extensions are enabled for
// this file only, by pragma, so the build needs no extra flags.
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vnni,avx512vl"))), \
                             apply_to = function)
#else
#pragma GCC target("avx512f,avx512vnni,avx512vl")
#endif

#include "kernels/gemm_avx2.h"
#include "kernels/packed_avx2.h"

namespace ll::kernels::internal {
namespace {

struct VnniDot {
  // Q8_0 weights as unsigned bytes w + 128 (sign bit flipped); the negsums cancel 128 * x.
  using Q8 = __m256i;
  static Q8 prep_q8(__m256i w) { return _mm256_xor_si256(w, _mm256_set1_epi8(-128)); }
  static __m256i q8(const Q8& wu, const int8_t* x, const int32_t* negsum) {
    return dot(wu, x, negsum);
  }
  static __m256i q4(__m256i u, const int8_t* x, const int32_t* negsum) { return dot(u, x, negsum); }
  static __m256i dot(__m256i u, const int8_t* x, const int32_t* negsum) {
    __m256i init = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(negsum));
    return _mm256_dpbusd_epi32(init, u, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
  }
  // Packed layout (packed_avx2.h): Q8_0 quants are stored as w + 128.
  static constexpr bool kQ8Offset = true;
  static constexpr bool kWideProducts = true;
  static __m256i dp_u4(__m256i acc, __m256i u, __m256i x) { return _mm256_dpbusd_epi32(acc, u, x); }
  static __m256i dp_q8(__m256i acc, __m256i v, __m256i x) { return _mm256_dpbusd_epi32(acc, v, x); }
};

// Packed decode with 512-bit vectors: two consecutive 8-row groups side by side (lanes 0-7 the
// first, 8-15 the second), so each instruction does the work of two 256-bit ones. Every lane
// runs the canonical form of packed.h, so the bits equal the 256-bit tiles'.
template <bool kQ8>
struct PairTile {
  static constexpr size_t kQuantBytes = kQ8 ? 256 : 128;
  static constexpr int kVecs = kQ8 ? 8 : 4;
  static constexpr size_t kAhead = 4096, kAheadL2 = 16384;
  using Ymm = PackedTile<VnniDot, kQ8>;

  static __m512i pair(const uint8_t* p, size_t stride) {
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + stride));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
  }
  static __m512i bcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }

  // Groups g and g + 1 x batch columns [b, b + B); prefetch only when the stream continues
  // past them (end != nullptr). Each column's block sums run in C chains (lane by lane the
  // same integers as one chain), more when there are fewer columns to overlap.
  template <int B>
  static void tile(const GemmArgs& a, int64_t g, int64_t b, const uint8_t* end) {
    constexpr int C = B == 1 ? 4 : 2;  // Q4_0: low nibbles in even chains, high in odd ones
    const int64_t nb = a.n_cols / kQK8_0;
    const size_t stride = a.w_stride;
    const size_t sbytes = packed_scale_bytes(nb);
    const uint8_t* grp = a.w + g * stride;
    const bool prefetch = end != nullptr && grp + 2 * stride + kAheadL2 <= end;
    ActRow x[B];
    for (int j = 0; j < B; ++j) {
      x[j] = ActRow::at(static_cast<const uint8_t*>(a.x) + (b + j) * a.x_stride, nb);
    }
    const __m512i low4 = _mm512_set1_epi32(0x0F0F0F0F);
    __m512 acc[B];
    for (int j = 0; j < B; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < nb; ++k) {
      const uint8_t* q = grp + sbytes + k * kQuantBytes;
      if (prefetch) {
        for (size_t off = 0; off < kQuantBytes; off += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(q + kAhead + off), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(q + stride + kAhead + off), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(q + kAheadL2 + off), _MM_HINT_T1);
          _mm_prefetch(reinterpret_cast<const char*>(q + stride + kAheadL2 + off), _MM_HINT_T1);
        }
      }
      __m512i c[B][C];
      const int8_t* xk[B];
      for (int j = 0; j < B; ++j) {
        c[j][0] = _mm512_set1_epi32(x[j].bsums[k]);
        for (int h = 1; h < C; ++h) c[j][h] = _mm512_setzero_si512();
        xk[j] = x[j].qs + k * kQK8_0;
      }
      for (int v = 0; v < kVecs; ++v) {
        const __m512i w = pair(q + 32 * v, stride);
        if constexpr (kQ8) {
          for (int j = 0; j < B; ++j) {
            c[j][v % C] = _mm512_dpbusd_epi32(c[j][v % C], w, bcast4(xk[j] + 4 * v));
          }
        } else {
          const int lo = C == 4 ? 2 * (v & 1) : 0;
          const __m512i wl = _mm512_and_si512(w, low4), wh = _mm512_andnot_si512(low4, w);
          for (int j = 0; j < B; ++j) {
            c[j][lo] = _mm512_dpbusd_epi32(c[j][lo], wl, bcast4(xk[j] + 4 * v));
            c[j][lo + 1] = _mm512_dpbusd_epi32(c[j][lo + 1], wh, bcast4(xk[j] + 16 + 4 * v));
          }
        }
      }
      const __m256i h = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(grp + k * 16))),
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(grp + stride + k * 16)), 1);
      const __m512 dw = _mm512_cvtph_ps(h);
      for (int j = 0; j < B; ++j) {
        __m512i even = c[j][0], odd = c[j][1];
        for (int i = 2; i < C; i += 2) even = _mm512_add_epi32(even, c[j][i]);
        for (int i = 3; i < C; i += 2) odd = _mm512_add_epi32(odd, c[j][i]);
        if constexpr (!kQ8) odd = _mm512_srai_epi32(odd, 4);  // exact: multiples of 16
        const __m512i sum = _mm512_add_epi32(even, odd);
        const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(x[j].d[k]));
        acc[j] = _mm512_add_ps(acc[j], _mm512_mul_ps(_mm512_cvtepi32_ps(sum), d));
      }
    }
    for (int j = 0; j < B; ++j) {
      float* y = a.y + (b + j) * a.y_stride + g * 8;
      _mm256_storeu_ps(y, _mm512_castps512_ps256(acc[j]));
      _mm256_storeu_ps(y + 8,
                       _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[j]), 1)));
    }
  }

  // Every batch column of groups g and g + 1, four at a time: the first tile prefetches along
  // the stream, the others find the groups in L1.
  static void pair_columns(const GemmArgs& a, int64_t g, const uint8_t* end) {
    int64_t b = 0;
    for (; b + 4 <= a.n_batch; b += 4, end = nullptr) tile<4>(a, g, b, end);
    switch (a.n_batch - b) {
      case 3:
        return tile<3>(a, g, b, end);
      case 2:
        return tile<2>(a, g, b, end);
      case 1:
        return tile<1>(a, g, b, end);
      default:
        return;
    }
  }

  // Decode and small batches (up to kPackedStreamBatch columns): each thread streams its
  // groups two at a time.
  static void stream(const GemmArgs& a, int64_t r0, int64_t r1) {
    const DecodeStream s = start_decode_stream(a, r0, r1, kAheadL2);
    if (a.claims == nullptr) {
      int64_t g = s.first;
      for (; g + 2 <= s.last; g += 2) pair_columns(a, g, s.end);
      if (g < s.last) Ymm::group_columns(a, g, s.end);
      return;
    }
    // Own groups two at a time from the front (consecutive unless the range ran out), then
    // the others' tails one group at a time.
    GroupClaim& own = a.claims[a.thread];
    for (int64_t g; (g = own.take_front()) >= 0;) {
      const int64_t g2 = own.take_front();
      if (g2 == g + 1) {
        pair_columns(a, g, s.end);
        continue;
      }
      Ymm::group_columns(a, g, s.end);
      if (g2 >= 0) Ymm::group_columns(a, g2, s.end);
    }
    for_each_stolen_group(a, [&](int64_t g) { Ymm::group_columns(a, g, nullptr); });
  }
};

}  // namespace

void gemm_packed_avx512(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (a.n_batch > kPackedStreamBatch) return gemm_packed_quant<VnniDot>(a, r0, r1);
  if (a.wtype == DType::kQ8_0) return PairTile<true>::stream(a, r0, r1);
  PairTile<false>::stream(a, r0, r1);
}

void gemm_quant_avx512vnni(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_quant<VnniDot>(a, r0, r1);
}

void gemm_packed_avx512vnni(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_packed_quant<VnniDot>(a, r0, r1);
}

}  // namespace ll::kernels::internal

#if defined(__clang__)
#pragma clang attribute pop
#endif
