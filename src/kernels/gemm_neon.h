// NEON gemm building blocks for quantized weights (plain GGUF rows and the packed layout of
// packed.h), and the row/batch tile drivers shared with the float kernels. Included by
// matvec_neon.cpp (baseline ARMv8-A: SMULL/SMLAL and pairwise widening adds) and by
// matvec_dotprod_neon.cpp (SDOT), each with its own Dot policy and instruction set, hence the
// unnamed namespace.
//
// Every quantized dot follows the scalar reference's canonical form exactly: per block k the
// exact integer sum s_k = sum_e w_e * x_e, then acc = acc + float(s_k) * (d_w[k] * d_x[k]) from
// acc = 0 over k in order, no fused multiply-add (the module builds with -ffp-contract=off). So
// NEON results are the scalar bits for any tile shape, row range, batch size and thread count,
// and both Dot policies agree bit for bit (integer sums are exact whichever instructions form
// them). Tiles only decide how many such dots run side by side:
//  * plain layout: a dot's int32 lanes are folded to its exact block sum with pairwise adds, four
//    dots per vector, so one convert, two multiplies and an add finish a block for four rows;
//  * packed layout: a 16-byte half of a packed vector holds 4 quants of each of 4 rows, so the
//    int32 lanes of a half are already 4 rows' block sums.
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/kernels_internal.h"

namespace ll::kernels::internal {
namespace {

// Calls f(std::integral_constant<int, i>{}) for i = 0 .. N-1: lane arguments of NEON
// intrinsics must be compile-time constants. Always inlined, and f too (mark its lambda
// LL_ALWAYS_INLINE): GCC otherwise leaves a large body as a call inside the block loop.
#define LL_ALWAYS_INLINE __attribute__((always_inline))
template <int N, class F>
LL_ALWAYS_INLINE inline void unroll(F&& f) {
  auto each = [&]<int... I>(std::integer_sequence<int, I...>) LL_ALWAYS_INLINE {
    (f(std::integral_constant<int, I>{}), ...);
  };
  each(std::make_integer_sequence<int, N>{});
}

// Calls f(std::integral_constant<int, n>{}) for a run-time n in [1, N].
template <int N, class F>
inline void dispatch_count(int64_t n, F&& f) {
  if constexpr (N > 0) {
    if (n == N) return f(std::integral_constant<int, N>{});
    dispatch_count<N - 1>(n, f);
  }
}

// Decode streams every weight byte once, and the hardware prefetcher alone leaves bandwidth
// unused: while working on bytes [p, p + n) of a row tile, request the same bytes of the next
// tile into L1 and of the tile four ahead into L2, one request per 64-byte line.
inline void prefetch_ahead(const uint8_t* p, size_t n, size_t tile_bytes) {
  for (size_t off = 0; off < n; off += 64) {
    __builtin_prefetch(p + off + tile_bytes, 0, 3);
    __builtin_prefetch(p + off + 4 * tile_bytes, 0, 2);
  }
}

// ---- Quantized weights, plain GGUF rows ----
//
// Dot policies provide
//   dot32(w0, w1, x0, x1): int32 lanes whose sum is exactly w0.x0 + w1.x1 (16 signed bytes each;
//     weights are int8 or Q4_0's unsigned nibbles, activations within [-127, 127]);
//   Sum<C>, clear, q8<V>, q4<V>, finish: a packed block's sums for the 4 rows of one vector half
//     (see PackedTile), C independent chains where the policy can use them;
//   kPackedBatch: batch columns per packed matmul tile (as many as registers allow).

template <class Dot, bool kQ8>
struct QuantTile {
  static constexpr size_t kBlockBytes = kQ8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  // Rows per matvec tile, and rows x batch columns per matmul tile.
  static constexpr int kRowsVec = 4, kRowsMat = 4, kBatchMat = 4;

  // A block's 32 weights as two signed vectors: Q8_0 as stored; Q4_0 as its unsigned nibbles
  // (low ones are elements 0..15, high ones 16..31), the activation's bsum = -8 * sum(x)
  // cancelling the offset of 8 once per block instead of a subtraction per byte.
  static void load(const uint8_t* blk, int8x16_t& w0, int8x16_t& w1) {
    if constexpr (kQ8) {
      w0 = vld1q_s8(reinterpret_cast<const int8_t*>(blk + 2));
      w1 = vld1q_s8(reinterpret_cast<const int8_t*>(blk + 18));
    } else {
      const uint8x16_t u = vld1q_u8(blk + 2);
      w0 = vreinterpretq_s8_u8(vandq_u8(u, vdupq_n_u8(0x0F)));
      w1 = vreinterpretq_s8_u8(vshrq_n_u8(u, 4));
    }
  }

  // Rows [r, r + R) x batch columns [b, b + B), R <= 4: lane i of acc[j] is the dot of row r + i
  // with batch row b + j. Missing rows (R < 4) get zero lanes and a zero scale.
  template <int R, int B>
  static void tile(const GemmArgs& a, int64_t r, int64_t b) {
    const int64_t nb = a.n_cols / kQK8_0;
    const uint8_t* w = a.w + r * a.w_stride;
    ActRow x[B];
    for (int j = 0; j < B; ++j) {
      x[j] = ActRow::at(static_cast<const uint8_t*>(a.x) + (b + j) * a.x_stride, nb);
    }
    float32x4_t acc[B];
    for (int j = 0; j < B; ++j) acc[j] = vdupq_n_f32(0.0f);
    for (int64_t k = 0; k < nb; ++k) {
      int8x16_t w0[4], w1[4];
      alignas(8) uint16_t dh[4] = {0, 0, 0, 0};  // fp16 scales; 0 for missing rows
      for (int i = 0; i < R; ++i) {
        const uint8_t* blk = w + i * a.w_stride + k * kBlockBytes;
        if (B == 1 && k % 8 == 0) prefetch_ahead(blk, 8 * kBlockBytes, R * a.w_stride);
        load(blk, w0[i], w1[i]);
        dh[i] = load_u16(blk);
      }
      const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(dh)));
      for (int j = 0; j < B; ++j) {
        const int8x16_t x0 = vld1q_s8(x[j].qs + k * kQK8_0);
        const int8x16_t x1 = vld1q_s8(x[j].qs + k * kQK8_0 + 16);
        int32x4_t lanes[4];
        for (int i = 0; i < 4; ++i) {
          lanes[i] = i < R ? Dot::dot32(w0[i], w1[i], x0, x1) : vdupq_n_s32(0);
        }
        // [row 0, row 1, row 2, row 3] exact block sums.
        int32x4_t s = vpaddq_s32(vpaddq_s32(lanes[0], lanes[1]), vpaddq_s32(lanes[2], lanes[3]));
        if constexpr (!kQ8) s = vaddq_s32(s, vdupq_n_s32(x[j].bsums[k]));
        const float32x4_t d = vmulq_n_f32(dw, x[j].d[k]);
        acc[j] = vaddq_f32(acc[j], vmulq_f32(vcvtq_f32_s32(s), d));
      }
    }
    for (int j = 0; j < B; ++j) {
      float out[4];
      vst1q_f32(out, acc[j]);
      for (int i = 0; i < R; ++i) a.y[(b + j) * a.y_stride + r + i] = out[i];
    }
  }
};

// ---- Tile drivers (shared with the float kernels) ----

// Rows [r0, r1) x batch columns [b, b + B): full row tiles, then one narrower tile.
template <class K, int B>
inline void row_sweep(const GemmArgs& a, int64_t r0, int64_t r1, int64_t b) {
  int64_t r = r0;
  for (; r + K::kRowsMat <= r1; r += K::kRowsMat) K::template tile<K::kRowsMat, B>(a, r, b);
  dispatch_count<K::kRowsMat - 1>(
      r1 - r, [&](auto rows) { K::template tile<decltype(rows)::value, B>(a, r, b); });
}

template <class K>
void gemm_rows(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (a.n_batch == 1) {
    int64_t r = r0;
    for (; r + K::kRowsVec <= r1; r += K::kRowsVec) K::template tile<K::kRowsVec, 1>(a, r, 0);
    dispatch_count<K::kRowsVec - 1>(
        r1 - r, [&](auto rows) { K::template tile<decltype(rows)::value, 1>(a, r, 0); });
    return;
  }
  // Blocked for the caches (phone cores have 256-512 KiB of L2): a chunk of weight rows stays
  // in L2 while all batch rows pass over it, a few at a time whose activations stay in L1.
  constexpr int64_t kWeightChunkBytes = 128 << 10, kActChunkBytes = 24 << 10;
  const int64_t rows_chunk =
      std::max<int64_t>(K::kRowsMat, kWeightChunkBytes / static_cast<int64_t>(a.w_stride));
  const int64_t batch_chunk =
      std::max<int64_t>(1, kActChunkBytes / static_cast<int64_t>(a.x_stride) / K::kBatchMat) *
      K::kBatchMat;
  for (int64_t rc = r0; rc < r1; rc += rows_chunk) {
    const int64_t rc1 = std::min(r1, rc + rows_chunk);
    for (int64_t b0 = 0; b0 < a.n_batch; b0 += batch_chunk) {
      const int64_t b1 = std::min(a.n_batch, b0 + batch_chunk);
      int64_t b = b0;
      for (; b + K::kBatchMat <= b1; b += K::kBatchMat) row_sweep<K, K::kBatchMat>(a, rc, rc1, b);
      dispatch_count<K::kBatchMat - 1>(
          b1 - b, [&](auto cols) { row_sweep<K, decltype(cols)::value>(a, rc, rc1, b); });
    }
  }
}

template <class Dot>
void gemm_quant(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (a.wtype == DType::kQ8_0) return gemm_rows<QuantTile<Dot, true>>(a, r0, r1);
  gemm_rows<QuantTile<Dot, false>>(a, r0, r1);
}

// ---- Quantized weights, packed layout (packed.h) ----
//
// A 32-byte packed vector V holds row r's quants 4V..4V+3 in bytes 4r..4r+3; its low half is
// rows 0..3, its high half rows 4..7. Each half meets the same 4 activation bytes, which sit in
// one 32-bit lane of an activation register: x0 = qs[0..15], x1 = qs[16..31]. Q8_0 vector V
// uses lane V % 4 of x0 (V < 4) or x1; Q4_0 vector V's low nibbles use lane V of x0 and its high
// nibbles (elements 16 + 4V..) lane V of x1.

template <class Dot, bool kQ8>
struct PackedTile {
  static constexpr int kVecs = kQ8 ? 8 : 4;  // 32-byte quant vectors per block
  static constexpr size_t kQuantBytes = kQ8 ? 256 : 128;
  // Matvec streams each group once: prefetch this far ahead in the group's quants into L1 and
  // L2 (the hardware prefetcher alone leaves DRAM bandwidth unused), and the scales likewise.
  static constexpr size_t kAhead = 4096, kAheadL2 = 16384;
  static constexpr int kBatch = Dot::kPackedBatch;

  // Prefetches p, which runs ahead of a stream ending at end; past the end, the same distance
  // into the next product's share instead (GemmArgs::next).
  template <int kLocality>
  static void prefetch_stream(const GemmArgs& a, const uint8_t* p, const uint8_t* end) {
    if (p < end) {
      __builtin_prefetch(p, 0, kLocality);
    } else if (static_cast<size_t>(p - end) < a.next_len) {
      __builtin_prefetch(a.next_begin + (p - end), 0, kLocality);
    }
  }

  // Group g x batch columns [b, b + B); end: where this thread's stream of groups ends (streamed
  // products only, nullptr when there is no stream to prefetch along). Single-column tiles have no
  // other independent work, so their block sums run in more chains.
  template <int B>
  static void tile(const GemmArgs& a, int64_t g, int64_t b, const uint8_t* end) {
    constexpr int C = B == 1 ? 4 : B == 2 ? 2 : 1;
    const int64_t nb = a.n_cols / kQK8_0;
    const size_t sbytes = packed_scale_bytes(nb);
    const uint8_t* grp = a.w + g * a.w_stride;
    ActRow x[B];
    for (int j = 0; j < B; ++j) {
      x[j] = ActRow::at(static_cast<const uint8_t*>(a.x) + (b + j) * a.x_stride, nb);
    }
    float32x4_t acc[B][2];
    for (int j = 0; j < B; ++j) acc[j][0] = acc[j][1] = vdupq_n_f32(0.0f);
    for (int64_t k = 0; k < nb; ++k) {
      int8x16_t x0[B], x1[B];
      typename Dot::template Sum<C> s[B][2];
      for (int j = 0; j < B; ++j) {
        x0[j] = vld1q_s8(x[j].qs + k * kQK8_0);
        x1[j] = vld1q_s8(x[j].qs + k * kQK8_0 + 16);
        Dot::clear(s[j][0]);
        Dot::clear(s[j][1]);
      }
      const uint8_t* q = grp + sbytes + k * kQuantBytes;
      if (end != nullptr) {
        for (size_t off = 0; off < kQuantBytes; off += 64) {
          prefetch_stream<3>(a, q + kAhead + off, end);
          prefetch_stream<2>(a, q + kAheadL2 + off, end);
        }
        if (k % 4 == 0) __builtin_prefetch(grp + k * 16 + kAhead / 8, 0, 3);
      }
      unroll<kVecs>([&](auto vec) LL_ALWAYS_INLINE {
        constexpr int V = decltype(vec)::value;
        for (int h = 0; h < 2; ++h) {
          const uint8x16_t u = vld1q_u8(q + 32 * V + 16 * h);
          if constexpr (kQ8) {
            // Stored as w + 128: flipping the sign bit gives w back as int8.
            const int8x16_t w = vreinterpretq_s8_u8(veorq_u8(u, vdupq_n_u8(0x80)));
            for (int j = 0; j < B; ++j) Dot::template q8<V>(s[j][h], w, V < 4 ? x0[j] : x1[j]);
          } else {
            const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(u, vdupq_n_u8(0x0F)));
            const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(u, 4));
            for (int j = 0; j < B; ++j) Dot::template q4<V>(s[j][h], lo, hi, x0[j], x1[j]);
          }
        }
      });
      // The group's 8 fp16 scales of block k: rows 0..3, then 4..7.
      const uint16x8_t dh = vld1q_u16(reinterpret_cast<const uint16_t*>(grp + k * 16));
      const float32x4_t dw[2] = {vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(dh))),
                                 vcvt_high_f32_f16(vreinterpretq_f16_u16(dh))};
      for (int j = 0; j < B; ++j) {
        for (int h = 0; h < 2; ++h) {
          int32x4_t sum = Dot::finish(s[j][h]);
          // Q4_0 multiplied unsigned nibbles: bsum = -8 * sum(x) makes them signed (exact).
          if constexpr (!kQ8) sum = vaddq_s32(sum, vdupq_n_s32(x[j].bsums[k]));
          const float32x4_t d = vmulq_n_f32(dw[h], x[j].d[k]);
          acc[j][h] = vaddq_f32(acc[j][h], vmulq_f32(vcvtq_f32_s32(sum), d));
        }
      }
    }
    for (int j = 0; j < B; ++j) {
      float* y = a.y + (b + j) * a.y_stride + g * 8;
      vst1q_f32(y, acc[j][0]);
      vst1q_f32(y + 4, acc[j][1]);
    }
  }

  // Groups [g0, g1) for every batch column, blocked for the caches as the plain layout is.
  static void batch_groups(const GemmArgs& a, int64_t g0, int64_t g1) {
    constexpr int64_t kWeightChunkBytes = 128 << 10;
    const int64_t groups_chunk =
        std::max<int64_t>(1, kWeightChunkBytes / static_cast<int64_t>(a.w_stride));
    for (int64_t gc = g0; gc < g1; gc += groups_chunk) {
      const int64_t gc1 = std::min(g1, gc + groups_chunk);
      int64_t b = 0;
      for (; b + kBatch <= a.n_batch; b += kBatch) {
        for (int64_t g = gc; g < gc1; ++g) tile<kBatch>(a, g, b, nullptr);
      }
      dispatch_count<kBatch - 1>(a.n_batch - b, [&](auto cols) {
        for (int64_t g = gc; g < gc1; ++g) tile<decltype(cols)::value>(a, g, b, nullptr);
      });
    }
  }

  // Every batch column of group g, kBatch at a time: the first tile prefetches along the
  // stream (end), the others find the group in L1.
  static void group_columns(const GemmArgs& a, int64_t g, const uint8_t* end) {
    int64_t b = 0;
    for (; b + kBatch <= a.n_batch; b += kBatch, end = nullptr) tile<kBatch>(a, g, b, end);
    dispatch_count<kBatch - 1>(a.n_batch - b,
                               [&](auto cols) { tile<decltype(cols)::value>(a, g, b, end); });
  }

  static void gemm(const GemmArgs& a, int64_t r0, int64_t r1) {
    GroupClaim* own = a.claims != nullptr ? &a.claims[a.thread] : nullptr;
    if (a.n_batch > kPackedStreamBatch) {
      if (own == nullptr) return batch_groups(a, r0 / 8, r1 / 8);
      // Callers hand out claims for small batches only; should a big one come with them, the
      // protocol still holds: own groups from the front, then the others' tails.
      auto groups = [&](int64_t g) { batch_groups(a, g, g + 1); };
      for_each_claimed_group(a, groups, groups);
      return;
    }
    // Decode and small batches: one group at a time, so each thread's share is one sequential
    // stream, prefetched (a small batch reads its weights once, as decode does).
    const DecodeStream s = start_decode_stream(a, r0, r1, kAheadL2);
    if (own == nullptr) {
      for (int64_t g = s.first; g < s.last; ++g) group_columns(a, g, s.end);
      return;
    }
    for_each_claimed_group(
        a, [&](int64_t g) { group_columns(a, g, s.end); },
        [&](int64_t g) { group_columns(a, g, nullptr); });
  }
};

template <class Dot>
void gemm_packed_quant(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (a.wtype == DType::kQ8_0) return PackedTile<Dot, true>::gemm(a, r0, r1);
  PackedTile<Dot, false>::gemm(a, r0, r1);
}

}  // namespace
}  // namespace ll::kernels::internal
