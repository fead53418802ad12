// AVX2 gemm over packed quantized weights (packed.h), included by the AVX2 translation units
// with their own Dot policy (maddubs/madd or VPDPBUSD), hence the unnamed namespace.
//
// A 32-byte vector of a packed block holds 4 quants of each of 8 rows; the matching 4
// activation bytes are broadcast to every lane, so each instruction advances 8 dots and lane r
// ends a block holding row r's exact integer block sum. Then one convert, two multiplies and an
// add finish the block for 8 rows, in the canonical order of packed.h.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/kernels_internal.h"

namespace ll::kernels::internal {
namespace {

// Dot policies provide (and kWideProducts: whether dp_u4 takes any u8 without saturating):
//   dp_u4(acc, u, x): acc + per-lane sums of u * x over 4 bytes (u unsigned nibbles, x signed)
//   dp_q8(acc, v, x): acc + the same for v = w + 128 as u8, giving sum (v - 128) * x when the
//                     block sum starts from bsum (kQ8Offset) or sum w * x otherwise.
template <class Dot, bool kQ8>
struct PackedTile {
  static constexpr int kVecs = kQ8 ? 8 : 4;  // 32-byte quant vectors per block
  static constexpr size_t kQuantBytes = kQ8 ? 256 : 128;
  // Matvec streams each group once: prefetch this far ahead in the group's quants (the hardware
  // prefetcher alone leaves DRAM bandwidth on the table), and the scales likewise.
  static constexpr size_t kAhead = 4096, kAheadL2 = 16384;
  // Matmul tiles: batch columns per tile, and tiles up to this many dots get two chains.
  static constexpr int kBatch = 4, kTwoChainTiles = 4;

  static __m256i bcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }

  // Prefetches p, which runs ahead of a stream ending at end; past the end, the same distance
  // into the next product's share instead (GemmArgs::next).
  template <_mm_hint kHint>
  static void prefetch_stream(const GemmArgs& a, const uint8_t* p, const uint8_t* end) {
    if (p < end) {
      _mm_prefetch(reinterpret_cast<const char*>(p), kHint);
    } else if (static_cast<size_t>(p - end) < a.next_len) {
      _mm_prefetch(reinterpret_cast<const char*>(a.next_begin + (p - end)), kHint);
    }
  }

  // Groups [g, g + G) x batch columns [b, b + B); end: where this thread's stream of groups
  // ends (streamed products only, nullptr: no prefetch). Each dot's block sum runs in C independent
  // integer chains (as many as registers allow: VPDPBUSD's latency would otherwise bound a block),
  // summed exactly at the end of the block.
  template <int G, int B>
  static void tile(const GemmArgs& a, int64_t g, int64_t b, const uint8_t* end = nullptr) {
    constexpr int C = G * B <= 2 ? 4 : G * B <= kTwoChainTiles ? 2 : 1;
    // With an instruction that does not saturate (VPDPBUSD), Q4_0's high nibbles can be
    // multiplied as 16 * hi in chains of their own, divided by 16 at the end of the block.
    constexpr bool kHi16 = !kQ8 && C > 1 && Dot::kWideProducts;
    // Where products saturate at 16 bits (maddubs), Q4_0's chains stay 16-bit instead: a
    // maddubs lane of nibbles is at most 2 * 15 * 127 = 3810 in magnitude, so a block's 8 of
    // them sum exactly in 16 bits, widened once per block rather than once per vector.
    constexpr bool kSum16 = !kQ8 && !Dot::kWideProducts;
    const int64_t nb = a.n_cols / kQK8_0;
    const size_t sbytes = packed_scale_bytes(nb);
    const uint8_t* grp[G];
    for (int i = 0; i < G; ++i) grp[i] = a.w + (g + i) * a.w_stride;
    ActRow x[B];
    for (int j = 0; j < B; ++j) {
      x[j] = ActRow::at(static_cast<const uint8_t*>(a.x) + (b + j) * a.x_stride, nb);
    }
    __m256 acc[G][B];
    for (int i = 0; i < G; ++i) {
      for (int j = 0; j < B; ++j) acc[i][j] = _mm256_setzero_ps();
    }
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    // Whether every prefetch of this tile stays inside the stream (all groups but the last
    // few of a share), so the per-block prefetches need no bounds checks.
    const bool stream_inside = end != nullptr && grp[G - 1] + a.w_stride + kAheadL2 <= end;
    for (int64_t k = 0; k < nb; ++k) {
      // Chain of vector v: Q8_0 v % C; Q4_0 low nibbles even chains, high nibbles odd ones.
      __m256i c[G][B][C];
      for (int i = 0; i < G; ++i) {
        for (int j = 0; j < B; ++j) {
          c[i][j][0] = ((kQ8 && !Dot::kQ8Offset) || kSum16) ? _mm256_setzero_si256()
                                                            : _mm256_set1_epi32(x[j].bsums[k]);
          for (int h = 1; h < C; ++h) c[i][j][h] = _mm256_setzero_si256();
        }
      }
      const int8_t* xk[B];
      for (int j = 0; j < B; ++j) xk[j] = x[j].qs + k * kQK8_0;
      for (int i = 0; i < G; ++i) {
        const uint8_t* q = grp[i] + sbytes + k * kQuantBytes;
        if (stream_inside) {  // the common case: no bounds to check
          for (size_t off = 0; off < kQuantBytes; off += 64) {
            _mm_prefetch(reinterpret_cast<const char*>(q + kAhead + off), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(q + kAheadL2 + off), _MM_HINT_T1);
          }
          if (k % 4 == 0) {
            _mm_prefetch(reinterpret_cast<const char*>(grp[i] + k * 16 + kAhead / 8), _MM_HINT_T0);
          }
        } else if (end != nullptr) {
          for (size_t off = 0; off < kQuantBytes; off += 64) {
            prefetch_stream<_MM_HINT_T0>(a, q + kAhead + off, end);
            prefetch_stream<_MM_HINT_T1>(a, q + kAheadL2 + off, end);
          }
          if (k % 4 == 0) {
            _mm_prefetch(reinterpret_cast<const char*>(grp[i] + k * 16 + kAhead / 8), _MM_HINT_T0);
          }
        }
        for (int v = 0; v < kVecs; ++v) {
          const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * v));
          if constexpr (kQ8) {
            for (int j = 0; j < B; ++j) {
              __m256i& s = c[i][j][v % C];
              s = Dot::dp_q8(s, w, bcast4(xk[j] + 4 * v));
            }
          } else {
            const __m256i lo = _mm256_and_si256(w, low4);
            // High nibbles in place (16 * hi, still a u8) take one instruction instead of two
            // where products cannot saturate; their chains are divided by 16 at the end.
            const __m256i hi = kHi16 ? _mm256_andnot_si256(low4, w)
                                     : _mm256_and_si256(_mm256_srli_epi16(w, 4), low4);
            const int lo_chain = C == 4 ? 2 * (v & 1) : 0, hi_chain = C == 1 ? 0 : lo_chain + 1;
            for (int j = 0; j < B; ++j) {
              __m256i& sl = c[i][j][lo_chain];
              __m256i& sh = c[i][j][hi_chain];
              if constexpr (kSum16) {
                sl = _mm256_add_epi16(sl, _mm256_maddubs_epi16(lo, bcast4(xk[j] + 4 * v)));
                sh = _mm256_add_epi16(sh, _mm256_maddubs_epi16(hi, bcast4(xk[j] + 16 + 4 * v)));
              } else {
                sl = Dot::dp_u4(sl, lo, bcast4(xk[j] + 4 * v));
                sh = Dot::dp_u4(sh, hi, bcast4(xk[j] + 16 + 4 * v));
              }
            }
          }
        }
      }
      for (int i = 0; i < G; ++i) {
        const __m256 dw =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(grp[i] + k * 16)));
        for (int j = 0; j < B; ++j) {
          __m256i sum;
          if constexpr (kSum16) {
            __m256i s16 = c[i][j][0];
            for (int h = 1; h < C; ++h) s16 = _mm256_add_epi16(s16, c[i][j][h]);
            sum = _mm256_add_epi32(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)),
                                   _mm256_set1_epi32(x[j].bsums[k]));
          } else {
            __m256i even = c[i][j][0], odd = _mm256_setzero_si256();
            for (int h = 2; h < C; h += 2) even = _mm256_add_epi32(even, c[i][j][h]);
            for (int h = 1; h < C; h += 2) odd = _mm256_add_epi32(odd, c[i][j][h]);
            // Exact: with kHi16 the odd chains hold multiples of 16.
            sum = _mm256_add_epi32(even, kHi16 ? _mm256_srai_epi32(odd, 4) : odd);
          }
          const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(x[j].d[k]));
          acc[i][j] = _mm256_add_ps(acc[i][j], _mm256_mul_ps(_mm256_cvtepi32_ps(sum), d));
        }
      }
    }
    for (int i = 0; i < G; ++i) {
      for (int j = 0; j < B; ++j) {
        _mm256_storeu_ps(a.y + (b + j) * a.y_stride + (g + i) * 8, acc[i][j]);
      }
    }
  }

  // Calls tile<1, N> for a run-time n in [1, N].
  template <int N>
  static void tail(const GemmArgs& a, int64_t g, int64_t b, int64_t n, const uint8_t* end) {
    if constexpr (N > 0) {
      if (n == N) return tile<1, N>(a, g, b, end);
      tail<N - 1>(a, g, b, n, end);
    }
  }

  // Every batch column of group g, kBatch at a time: the first tile prefetches along the
  // stream (end), the others find the group in L1.
  static void group_columns(const GemmArgs& a, int64_t g, const uint8_t* end) {
    int64_t b = 0;
    for (; b + kBatch <= a.n_batch; b += kBatch, end = nullptr) tile<1, kBatch>(a, g, b, end);
    if (b < a.n_batch) tail<kBatch - 1>(a, g, b, a.n_batch - b, end);
  }

  static void gemm(const GemmArgs& a, int64_t r0, int64_t r1) {
    const int64_t g0 = r0 / 8, g1 = r1 / 8;
    if (a.n_batch <= kPackedStreamBatch) {
      // One group at a time: each thread's share is then one sequential stream, prefetched as
      // it goes. Without the prefetches a small batch, whose weights are read once as in
      // decode, waited on DRAM: 4 rows of Q4_0 cost 3.8 times one row.
      const DecodeStream s = start_decode_stream(a, r0, r1, kAheadL2);
      if (a.claims == nullptr) {
        for (int64_t g = s.first; g < s.last; ++g) group_columns(a, g, s.end);
        return;
      }
      for_each_claimed_group(
          a, [&](int64_t g) { group_columns(a, g, s.end); },
          [&](int64_t g) { group_columns(a, g, nullptr); });
      return;
    }
    // Cache blocking as for the plain layout: a chunk of groups stays in L2 while every batch
    // column passes over it, kBatch columns at a time.
    constexpr int64_t kWeightChunkBytes = 256 << 10;
    const int64_t groups_chunk = std::max<int64_t>(1, kWeightChunkBytes / a.w_stride);
    for (int64_t gc = g0; gc < g1; gc += groups_chunk) {
      const int64_t gc1 = std::min(g1, gc + groups_chunk);
      int64_t b = 0;
      for (; b + kBatch <= a.n_batch; b += kBatch) {
        for (int64_t g = gc; g < gc1; ++g) tile<1, kBatch>(a, g, b);
      }
      if (b < a.n_batch) {
        for (int64_t g = gc; g < gc1; ++g) tail<kBatch - 1>(a, g, b, a.n_batch - b, nullptr);
      }
    }
  }
};

template <class Dot>
void gemm_packed_quant(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (a.wtype == DType::kQ8_0) return PackedTile<Dot, true>::gemm(a, r0, r1);
  PackedTile<Dot, false>::gemm(a, r0, r1);
}

}  // namespace
}  // namespace ll::kernels::internal
