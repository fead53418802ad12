// AVX2 gemm building blocks, included by matvec_avx2.cpp and by the VNNI translation units,
// each compiling them for its own instruction set (hence the unnamed namespace).
//
// Every dot product keeps one float accumulator (8 lanes for float weights, 4 for quantized
// ones), updated once per 8 elements or once per 32-element block, then reduced in a fixed
// order and, for float weights, finished with a scalar tail. Tiles only decide how many such
// independent dots run side by side (several rows for latency hiding in matvec, rows x batch
// columns for weight reuse in matmul), so each dot's bits never depend on the tile shape, the row
// range a thread gets, or the batch size.
//
// Quantized blocks: int32 lane l holds the exact sum of w * x over elements 4l..4l+3; lanes
// are folded to 4 per dot (see QuantTile), converted to float and accumulated as
// acc = fma(lanes, d_w * d_x, acc). Integer sums are exact, so the maddubs/madd and VNNI
// variants give identical bits.
#pragma once

#include <immintrin.h>

#include "kernels/kernels_internal.h"

namespace ll::kernels::internal {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Decode streams every weight byte once, and neither waiting for each row tile's misses nor
// the hardware prefetcher alone reaches full bandwidth: while working on bytes [p, p + n) of
// a row tile, request the same bytes of the next tile into L1 and of the tile four ahead into
// L2, one prefetch per cache line.
inline void prefetch_ahead(const uint8_t* p, size_t n, size_t tile_bytes) {
  for (size_t off = 0; off < n; off += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + off + tile_bytes), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + off + 4 * tile_bytes), _MM_HINT_T1);
  }
}

inline int64_t min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}
inline int64_t max64(int64_t a, int64_t b) {
  return a > b ? a : b;
}

// ---- Quantized weights ----
// Dot policies turn one weight block and one activation block into int32 lanes. Q8_0 needs a
// signed x signed product: without VNNI via |w| * (x with w's sign) (maddubs is unsigned x
// signed); with VNNI via (w + 128) * x minus the activation's precomputed 128 * sum(x).
// Q4_0 multiplies the unsigned nibble by x and adds the precomputed -8 * sum(x).

struct MaddDot {
  struct Q8 {
    __m256i abs, w;
  };
  static Q8 prep_q8(__m256i w) { return {_mm256_abs_epi8(w), w}; }
  static __m256i q8(const Q8& w, const int8_t* x, const int32_t*) {
    __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
    __m256i pairs = _mm256_maddubs_epi16(w.abs, _mm256_sign_epi8(xv, w.w));
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  }
  static __m256i q4(__m256i u, const int8_t* x, const int32_t* negsum) {
    __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
    __m256i quads = _mm256_madd_epi16(_mm256_maddubs_epi16(u, xv), _mm256_set1_epi16(1));
    return _mm256_add_epi32(quads, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(negsum)));
  }
  // Packed layout (packed_avx2.h).
  static constexpr bool kQ8Offset = false;
  static constexpr bool kWideProducts = false;  // maddubs saturates at 16 bits
  static __m256i dp_u4(__m256i acc, __m256i u, __m256i x) {
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)));
  }
  static __m256i dp_q8(__m256i acc, __m256i v, __m256i x) {
    const __m256i w = _mm256_xor_si256(v, _mm256_set1_epi8(-128));
    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
  }
};

template <class Dot>
struct WQ8 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ8_0);
  using Prep = typename Dot::Q8;
  static Prep prepare(const uint8_t* b) {
    return Dot::prep_q8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2)));
  }
  static __m256i lanes(const Prep& w, const ActRow& x, int64_t k) {
    return Dot::q8(w, x.qs + k * kQK8_0, x.negsums + k * 8);
  }
};

template <class Dot>
struct WQ4 {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_0);
  using Prep = __m256i;
  // Unsigned nibbles; low ones are elements 0..15 and high ones 16..31, a 128-bit lane each.
  // Broadcast-load and blend rather than insert: port 5 is busy with the scale gathering.
  static Prep prepare(const uint8_t* b) {
    __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2));
    __m256i v = _mm256_broadcastsi128_si256(q);
    v = _mm256_blend_epi32(v, _mm256_srli_epi16(v, 4), 0xF0);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
  }
  static __m256i lanes(const Prep& u, const ActRow& x, int64_t k) {
    return Dot::q4(u, x.qs + k * kQK8_0, x.negsums + k * 8);
  }
};

// The fp16 scales of blocks k..k+7 of a weight row, as floats.
template <size_t kBlockBytes>
inline __m256 weight_scales8(const uint8_t* row, int64_t k) {
  const uint8_t* p = row + k * kBlockBytes;
  __m128i h = _mm_cvtsi32_si128(load_u16(p));
  h = _mm_insert_epi16(h, load_u16(p + 1 * kBlockBytes), 1);
  h = _mm_insert_epi16(h, load_u16(p + 2 * kBlockBytes), 2);
  h = _mm_insert_epi16(h, load_u16(p + 3 * kBlockBytes), 3);
  h = _mm_insert_epi16(h, load_u16(p + 4 * kBlockBytes), 4);
  h = _mm_insert_epi16(h, load_u16(p + 5 * kBlockBytes), 5);
  h = _mm_insert_epi16(h, load_u16(p + 6 * kBlockBytes), 6);
  h = _mm_insert_epi16(h, load_u16(p + 7 * kBlockBytes), 7);
  return _mm256_cvtph_ps(h);
}

// Two dots of adjacent weight rows share one float accumulator: their int32 lanes are
// interleaved and pairwise summed, c = [A0+A2, B0+B2, A1+A3, B1+B3 | A4+A6, B4+B6, A5+A7, B5+B7],
// so each convert and fma (the port 0/1 bottleneck) serves two dots. A row without a partner
// is paired with zeros, which leaves its own lanes exactly as they would be with one. So each
// dot's canonical form is: 4 lanes q0..q3 per block (A: c lanes 0, 2, 4, 6; B: 1, 3, 5, 7),
// q += lanes * (d_w * d_x) with one fma per block, result (q0 + q2) + (q1 + q3).
inline __m256i pair_lanes(__m256i a, __m256i b) {
  return _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
}

template <class W>
struct QuantTile {
  // Rows per matvec tile, and rows x batch columns per matmul tile.
  static constexpr int kRowsVec = 4, kRowsMat = 4, kBatchMat = 3;

  template <int R, int B>
  static void tile(const GemmArgs& a, int64_t r, int64_t b) {
    constexpr int P = (R + 1) / 2;  // row pairs
    const int64_t nb = a.n_cols / kQK8_0;
    const uint8_t* w = a.w + r * a.w_stride;
    ActRow x[B];
    for (int j = 0; j < B; ++j) {
      x[j] = ActRow::at(static_cast<const uint8_t*>(a.x) + (b + j) * a.x_stride, nb);
    }
    __m256 acc[P][B];
    for (int p = 0; p < P; ++p) {
      for (int j = 0; j < B; ++j) acc[p][j] = _mm256_setzero_ps();
    }
    // Scales d_w * d_x are converted and multiplied 8 blocks at a time and stored as
    // (row 2p, row 2p+1) pairs per block, so each block needs just one broadcast load. The
    // missing partner of an odd row gets scale 0 (its lanes are 0 too).
    alignas(32) float scale[P][B][8][2];
    for (int64_t k0 = 0; k0 < nb; k0 += 8) {
      const int kn = static_cast<int>(min64(8, nb - k0));
      if (kn == 8) {
        for (int p = 0; p < P; ++p) {
          __m256 dw[2];
          for (int h = 0; h < 2; ++h) {
            const int i = 2 * p + h;
            if (i >= R) {
              dw[h] = _mm256_setzero_ps();
              continue;
            }
            if constexpr (B == 1) {
              prefetch_ahead(w + i * a.w_stride + k0 * W::kBlockBytes, 8 * W::kBlockBytes,
                             R * a.w_stride);
            }
            dw[h] = weight_scales8<W::kBlockBytes>(w + i * a.w_stride, k0);
          }
          for (int j = 0; j < B; ++j) {
            __m256 dx = _mm256_loadu_ps(x[j].d + k0);
            __m256 s0 = _mm256_mul_ps(dw[0], dx), s1 = _mm256_mul_ps(dw[1], dx);
            __m256 lo = _mm256_unpacklo_ps(s0, s1), hi = _mm256_unpackhi_ps(s0, s1);
            _mm256_store_ps(scale[p][j][0], _mm256_permute2f128_ps(lo, hi, 0x20));
            _mm256_store_ps(scale[p][j][4], _mm256_permute2f128_ps(lo, hi, 0x31));
          }
        }
      } else {  // the same float products, one at a time
        for (int p = 0; p < P; ++p) {
          for (int h = 0; h < 2; ++h) {
            const int i = 2 * p + h;
            for (int kk = 0; kk < kn; ++kk) {
              float dw = 0.0f;
              if (i < R) dw = _cvtsh_ss(load_u16(w + i * a.w_stride + (k0 + kk) * W::kBlockBytes));
              for (int j = 0; j < B; ++j) scale[p][j][kk][h] = dw * x[j].d[k0 + kk];
            }
          }
        }
      }
      for (int kk = 0; kk < kn; ++kk) {
        const int64_t k = k0 + kk;
        for (int p = 0; p < P; ++p) {
          const int i = 2 * p;
          typename W::Prep w0 = W::prepare(w + i * a.w_stride + k * W::kBlockBytes);
          if (i + 1 < R) {
            typename W::Prep w1 = W::prepare(w + (i + 1) * a.w_stride + k * W::kBlockBytes);
            for (int j = 0; j < B; ++j) {
              __m256i c = pair_lanes(W::lanes(w0, x[j], k), W::lanes(w1, x[j], k));
              acc[p][j] = fma_pair(c, &scale[p][j][kk][0], acc[p][j]);
            }
          } else {
            for (int j = 0; j < B; ++j) {
              __m256i c = pair_lanes(W::lanes(w0, x[j], k), _mm256_setzero_si256());
              acc[p][j] = fma_pair(c, &scale[p][j][kk][0], acc[p][j]);
            }
          }
        }
      }
    }
    for (int p = 0; p < P; ++p) {
      for (int j = 0; j < B; ++j) {
        __m128 s =
            _mm_add_ps(_mm256_castps256_ps128(acc[p][j]), _mm256_extractf128_ps(acc[p][j], 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));  // [row 2p, row 2p+1, ...]
        a.y[(b + j) * a.y_stride + r + 2 * p] = _mm_cvtss_f32(s);
        if (2 * p + 1 < R)
          a.y[(b + j) * a.y_stride + r + 2 * p + 1] = _mm_cvtss_f32(_mm_movehdup_ps(s));
      }
    }
  }

  // acc += lanes * [s0, s1, s0, s1, ...] with the (s0, s1) pair broadcast from memory.
  static __m256 fma_pair(__m256i c, const float* s, __m256 acc) {
    __m256 sv = _mm256_castpd_ps(_mm256_broadcast_sd(reinterpret_cast<const double*>(s)));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(c), sv, acc);
  }
};

// ---- Tile drivers (shared with the float kernels) ----

// Rows [r0, r1) x batch columns [b, b + B): all row tiles of one batch tile.
template <class K, int B>
inline void row_sweep(const GemmArgs& a, int64_t r0, int64_t r1, int64_t b) {
  int64_t r = r0;
  for (; r + K::kRowsMat <= r1; r += K::kRowsMat) K::template tile<K::kRowsMat, B>(a, r, b);
  for (; r < r1; ++r) K::template tile<1, B>(a, r, b);
}

// Calls row_sweep<K, rem> for a run-time rem in [1, N].
template <class K, int N>
inline void row_sweep_tail(const GemmArgs& a, int64_t r0, int64_t r1, int64_t b, int64_t rem) {
  if constexpr (N > 0) {
    if (rem == N) return row_sweep<K, N>(a, r0, r1, b);
    row_sweep_tail<K, N - 1>(a, r0, r1, b, rem);
  }
}

template <class K>
void gemm_rows(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (a.n_batch == 1) {
    int64_t r = r0;
    for (; r + K::kRowsVec <= r1; r += K::kRowsVec) K::template tile<K::kRowsVec, 1>(a, r, 0);
    for (; r < r1; ++r) K::template tile<1, 1>(a, r, 0);
    return;
  }
  // Blocked for the caches: a chunk of weight rows stays in L2 while all batch rows pass over
  // it, a few batch rows at a time whose activations stay in L1 while the chunk's row tiles
  // stream past them.
  constexpr int64_t kWeightChunkBytes = 256 << 10, kActChunkBytes = 40 << 10;
  const int64_t rows_chunk =
      max64(K::kRowsMat, kWeightChunkBytes / static_cast<int64_t>(a.w_stride));
  const int64_t batch_chunk =
      max64(1, kActChunkBytes / static_cast<int64_t>(a.x_stride) / K::kBatchMat) * K::kBatchMat;
  for (int64_t rc = r0; rc < r1; rc += rows_chunk) {
    const int64_t rc1 = min64(r1, rc + rows_chunk);
    for (int64_t b0 = 0; b0 < a.n_batch; b0 += batch_chunk) {
      const int64_t b1 = min64(a.n_batch, b0 + batch_chunk);
      int64_t b = b0;
      for (; b + K::kBatchMat <= b1; b += K::kBatchMat) row_sweep<K, K::kBatchMat>(a, rc, rc1, b);
      if (b < b1) row_sweep_tail<K, K::kBatchMat - 1>(a, rc, rc1, b, b1 - b);
    }
  }
}

template <class Dot>
void gemm_quant(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (a.wtype == DType::kQ8_0) return gemm_rows<QuantTile<WQ8<Dot>>>(a, r0, r1);
  gemm_rows<QuantTile<WQ4<Dot>>>(a, r0, r1);
}

}  // namespace
}  // namespace ll::kernels::internal
