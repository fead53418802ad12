// ARM64 NEON kernels (Isa::kNeon). Advanced SIMD is mandatory on AArch64, so this file builds
// for the baseline ARMv8-A and runs on every ARM64 CPU; quantized products switch at run time
// to SDOT (matvec_dotprod_neon.cpp) on CPUs with the ARMv8.2 dot-product extension, which
// nearly every phone core since Cortex-A55/A75 has, like AVX2's VNNI variant on x86.
//
// Unlike the x86 paths, every entry gives the scalar reference's exact bits: dots use the
// scalar reduction order (8 float lanes kept as two 4-lane halves and reduced with the same
// tree; quantized blocks as exact integer sums accumulated once per block, gemm_neon.h) and
// separate multiplies and adds, never FMLA. So an ARM phone, an x86 host with LL_ISA=scalar and
// the thread counts and batch sizes of each agree bit for bit; the tests check it. The cost is
// throughput in compute-bound float-weight prefill, where FMLA would do one instruction's work
// in place of two; quantized weights (what phones run) spend their time in integer dots.
#if defined(__aarch64__)

#include <arm_neon.h>

#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  // Linux UAPI value; older libc headers lack the name
#endif
#endif

#include "kernels/gemm_neon.h"

namespace ll::kernels::internal {
namespace {

// ---- Quantized weights: the baseline integer dot ----

// SMULL/SMLAL multiply 8 bytes into 16-bit lanes; two products of int8 weights (even -128,
// which foreign files may hold) and activations in [-127, 127] still fit (2 * 128 * 127 =
// 32512), and so do up to 17 products of Q4_0's nibbles (15 * 127 each). Pairwise widening
// adds then carry the sums on in 32 bits.
struct MullDot {
  static constexpr int kPackedBatch = 2;  // a half's sums take four registers here

  static int32x4_t dot32(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
    int16x8_t p = vmull_s8(vget_low_s8(w0), vget_low_s8(x0));
    p = vmlal_high_s8(p, w0, x0);
    int16x8_t q = vmull_s8(vget_low_s8(w1), vget_low_s8(x1));
    q = vmlal_high_s8(q, w1, x1);
    return vpadalq_s16(vpaddlq_s16(p), q);
  }

  // Packed: rows 0, 1 of a half in the low 8 bytes, rows 2, 3 in the high ones. 16-bit lanes
  // hold one row's products of one element position; a01 = [row 0 (lanes 0+1), row 0 (2+3),
  // row 1 (0+1), row 1 (2+3)], a23 likewise. The 16-bit stage already gives independent
  // chains, so C is not used.
  template <int C>
  struct Sum {
    int16x8_t p01, p23;
    int32x4_t a01, a23;
  };
  template <int C>
  static void clear(Sum<C>& s) {
    s.a01 = s.a23 = vdupq_n_s32(0);
  }
  // The 4 activation bytes of lane L in every lane.
  template <int L>
  static int8x16_t bcast(int8x16_t x) {
    return vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(x), L));
  }
  template <int V, int C>
  static void q8(Sum<C>& s, int8x16_t w, int8x16_t x) {
    const int8x16_t xb = bcast<V % 4>(x);
    if constexpr (V % 2 == 0) {  // two products per 16-bit lane, then widen
      s.p01 = vmull_s8(vget_low_s8(w), vget_low_s8(xb));
      s.p23 = vmull_high_s8(w, xb);
    } else {
      s.p01 = vmlal_s8(s.p01, vget_low_s8(w), vget_low_s8(xb));
      s.p23 = vmlal_high_s8(s.p23, w, xb);
      s.a01 = vpadalq_s16(s.a01, s.p01);
      s.a23 = vpadalq_s16(s.a23, s.p23);
    }
  }
  template <int V, int C>
  static void q4(Sum<C>& s, int8x16_t lo, int8x16_t hi, int8x16_t x0, int8x16_t x1) {
    const int8x16_t xl = bcast<V>(x0), xh = bcast<V>(x1);
    // All 8 nibble products of a block fit one 16-bit lane; widen once at the end.
    if constexpr (V == 0) {
      s.p01 = vmull_s8(vget_low_s8(lo), vget_low_s8(xl));
      s.p23 = vmull_high_s8(lo, xl);
    } else {
      s.p01 = vmlal_s8(s.p01, vget_low_s8(lo), vget_low_s8(xl));
      s.p23 = vmlal_high_s8(s.p23, lo, xl);
    }
    s.p01 = vmlal_s8(s.p01, vget_low_s8(hi), vget_low_s8(xh));
    s.p23 = vmlal_high_s8(s.p23, hi, xh);
    if constexpr (V == 3) {
      s.a01 = vpaddlq_s16(s.p01);
      s.a23 = vpaddlq_s16(s.p23);
    }
  }
  template <int C>
  static int32x4_t finish(const Sum<C>& s) {
    return vpaddq_s32(s.a01, s.a23);  // [row 0, row 1, row 2, row 3]
  }
};

// ---- Float weights x float activations ----
// Each dot keeps the scalar reference's 8 interleaved partial sums as two 4-lane vectors (lanes
// 0..3 and 4..7) and reduces them with its tree, then adds the tail element by element.

struct WF32 {
  static constexpr int kElemBytes = 4;
  static void load8(const uint8_t* row, int64_t k, float32x4_t& lo, float32x4_t& hi) {
    const float* p = reinterpret_cast<const float*>(row) + k;
    lo = vld1q_f32(p);
    hi = vld1q_f32(p + 4);
  }
  static float at(const uint8_t* row, int64_t k) {
    float v;
    std::memcpy(&v, row + 4 * k, 4);
    return v;
  }
};

struct WF16 {
  static constexpr int kElemBytes = 2;
  static void load8(const uint8_t* row, int64_t k, float32x4_t& lo, float32x4_t& hi) {
    const uint16x8_t h = vld1q_u16(reinterpret_cast<const uint16_t*>(row) + k);
    lo = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));  // exact, subnormals included
    hi = vcvt_high_f32_f16(vreinterpretq_f16_u16(h));
  }
  static float at(const uint8_t* row, int64_t k) { return half_to_float(load_u16(row + 2 * k)); }
};

struct WBF16 {
  static constexpr int kElemBytes = 2;
  static void load8(const uint8_t* row, int64_t k, float32x4_t& lo, float32x4_t& hi) {
    const uint16x8_t h = vld1q_u16(reinterpret_cast<const uint16_t*>(row) + k);
    lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
    hi = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
  }
  static float at(const uint8_t* row, int64_t k) { return bfloat_to_float(load_u16(row + 2 * k)); }
};

// The scalar reference's hsum8: ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
inline float hsum8(float32x4_t lo, float32x4_t hi) {
  const float32x4_t t = vaddq_f32(lo, hi);
  const float32x2_t h = vadd_f32(vget_low_f32(t), vget_high_f32(t));
  return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);
}

template <class W>
struct FloatTile {
  // Two accumulators per dot: a 2 x 4 matmul tile keeps 16 of them in registers.
  static constexpr int kRowsVec = 4, kRowsMat = 2, kBatchMat = 4;

  template <int R, int B>
  static void tile(const GemmArgs& a, int64_t r, int64_t b) {
    const int64_t n = a.n_cols, n8 = n & ~int64_t{7};
    const uint8_t* w = a.w + r * a.w_stride;
    const float* x[B];
    for (int j = 0; j < B; ++j) {
      x[j] =
          reinterpret_cast<const float*>(static_cast<const uint8_t*>(a.x) + (b + j) * a.x_stride);
    }
    float32x4_t lo[R][B], hi[R][B];
    for (int i = 0; i < R; ++i) {
      for (int j = 0; j < B; ++j) lo[i][j] = hi[i][j] = vdupq_n_f32(0.0f);
    }
    for (int64_t k = 0; k < n8; k += 8) {
      float32x4_t wl[R], wh[R];
      for (int i = 0; i < R; ++i) {
        const uint8_t* p = w + i * a.w_stride + k * W::kElemBytes;
        if (B == 1 && (k * W::kElemBytes) % 64 == 0) prefetch_ahead(p, 64, R * a.w_stride);
        W::load8(w + i * a.w_stride, k, wl[i], wh[i]);
      }
      for (int j = 0; j < B; ++j) {
        const float32x4_t xl = vld1q_f32(x[j] + k), xh = vld1q_f32(x[j] + k + 4);
        for (int i = 0; i < R; ++i) {
          lo[i][j] = vaddq_f32(lo[i][j], vmulq_f32(wl[i], xl));
          hi[i][j] = vaddq_f32(hi[i][j], vmulq_f32(wh[i], xh));
        }
      }
    }
    for (int i = 0; i < R; ++i) {
      for (int j = 0; j < B; ++j) {
        float s = hsum8(lo[i][j], hi[i][j]);
        for (int64_t k = n8; k < n; ++k) s = s + W::at(w + i * a.w_stride, k) * x[j][k];
        a.y[(b + j) * a.y_stride + r + i] = s;
      }
    }
  }
};

void gemm_float(const GemmArgs& a, int64_t r0, int64_t r1) {
  switch (a.wtype) {
    case DType::kF32:
      return gemm_rows<FloatTile<WF32>>(a, r0, r1);
    case DType::kF16:
      return gemm_rows<FloatTile<WF16>>(a, r0, r1);
    case DType::kBF16:
      return gemm_rows<FloatTile<WBF16>>(a, r0, r1);
    default:
      return;
  }
}

void gemm_base(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (is_quantized(a.wtype)) return gemm_quant<MullDot>(a, r0, r1);
  gemm_float(a, r0, r1);
}

void gemm_dotprod(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (is_quantized(a.wtype)) return gemm_quant_neon_dotprod(a, r0, r1);
  gemm_float(a, r0, r1);
}

void gemm_packed_base(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_packed_quant<MullDot>(a, r0, r1);
}

void quantize_act(const float* x, int64_t n, void* out, int sum_scale) {
  const int64_t nb = n / kQK8_0;
  auto* qs = static_cast<int8_t*>(out);
  auto* ds = reinterpret_cast<float*>(qs + nb * 32);
  auto* negsums = reinterpret_cast<int32_t*>(qs + nb * 36);
  auto* bsums = reinterpret_cast<int32_t*>(qs + nb * 68);
  for (int64_t i = 0; i < nb; ++i) {
    float32x4_t v[8];
    for (int j = 0; j < 8; ++j) v[j] = vld1q_f32(x + i * kQK8_0 + 4 * j);
    // maxnm skips NaNs as the scalar `a > amax ? a : amax` does.
    float32x4_t m = vabsq_f32(v[0]);
    for (int j = 1; j < 8; ++j) m = vmaxnmq_f32(m, vabsq_f32(v[j]));
    const float d = vmaxnmvq_f32(m) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    ds[i] = d;
    // FCVTNS rounds to nearest-even, as the scalar quantizer does; |x * id| <= 127, so the
    // saturating narrows never saturate.
    int16x8_t q16[4];
    for (int j = 0; j < 4; ++j) {
      const int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(v[2 * j], id));
      const int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(v[2 * j + 1], id));
      q16[j] = vqmovn_high_s32(vqmovn_s32(a), b);
    }
    const int8x16_t q0 = vqmovn_high_s16(vqmovn_s16(q16[0]), q16[1]);
    const int8x16_t q1 = vqmovn_high_s16(vqmovn_s16(q16[2]), q16[3]);
    vst1q_s8(qs + i * kQK8_0, q0);
    vst1q_s8(qs + i * kQK8_0 + 16, q1);
    if (sum_scale != 0) {
      // Sums of 4 consecutive quants, lanes l = 0..3 and 4..7.
      const int32x4_t s0 = vmulq_n_s32(vpaddlq_s16(vpaddlq_s8(q0)), -sum_scale);
      const int32x4_t s1 = vmulq_n_s32(vpaddlq_s16(vpaddlq_s8(q1)), -sum_scale);
      vst1q_s32(negsums + i * 8, s0);
      vst1q_s32(negsums + i * 8 + 4, s1);
      bsums[i] = vaddvq_s32(vaddq_s32(s0, s1));
    }
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  float32x4_t lo = vdupq_n_f32(0.0f), hi = vdupq_n_f32(0.0f);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    lo = vaddq_f32(lo, vmulq_f32(vld1q_f32(a + k), vld1q_f32(b + k)));
    hi = vaddq_f32(hi, vmulq_f32(vld1q_f32(a + k + 4), vld1q_f32(b + k + 4)));
  }
  float s = hsum8(lo, hi);
  for (; k < n; ++k) s = s + a[k] * b[k];
  return s;
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  int64_t k = 0;
  for (; k + 4 <= n; k += 4)
    vst1q_f32(y + k, vaddq_f32(vld1q_f32(y + k), vmulq_n_f32(vld1q_f32(x + k), a)));
  for (; k < n; ++k) y[k] = y[k] + a * x[k];
}

uint64_t read_sum(const void* p, size_t n) {
  const auto* bytes = static_cast<const uint8_t*>(p);
  uint64x2_t s[4] = {vdupq_n_u64(0), vdupq_n_u64(0), vdupq_n_u64(0), vdupq_n_u64(0)};
  for (size_t off = 0; off + 256 <= n; off += 256) {
    // Prefetching like the matvec kernels: the ceiling they are compared against must not be
    // lower than what they can reach.
    for (size_t line = 0; line < 256; line += 64) {
      __builtin_prefetch(bytes + off + line + kReadAheadL1, 0, 3);
      __builtin_prefetch(bytes + off + line + kReadAheadL2, 0, 2);
    }
    const auto* v = reinterpret_cast<const uint64_t*>(bytes + off);
    for (int j = 0; j < 16; ++j) s[j & 3] = vaddq_u64(s[j & 3], vld1q_u64(v + 2 * j));
  }
  const uint64x2_t t = vaddq_u64(vaddq_u64(s[0], s[1]), vaddq_u64(s[2], s[3]));
  return vgetq_lane_u64(t, 0) + vgetq_lane_u64(t, 1);
}

bool detect_dotprod() {
#if defined(__ARM_FEATURE_DOTPROD)
  return true;  // the whole build targets CPUs that have it
#elif defined(__linux__)
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;  // Android included
#else
  return false;  // no portable probe elsewhere: the baseline path
#endif
}

}  // namespace

bool neon_has_dotprod() {
  static const bool has = detect_dotprod();
  return has;
}

const KernelTable& neon_table(bool use_dotprod) {
  // Other block types run the scalar reference (gemm_ext nullptr): the same bits, not yet fast.
  static const KernelTable base{Isa::kNeon, quantize_act, gemm_base, gemm_packed_base,  dot_f32,
                                axpy_f32,   read_sum,     nullptr,   gemm_packed_k_neon};
  static const KernelTable dotprod{
      Isa::kNeon, quantize_act, gemm_dotprod, gemm_packed_neon_dotprod,  dot_f32,
      axpy_f32,   read_sum,     nullptr,      gemm_packed_k_neon_dotprod};
  return use_dotprod && neon_has_dotprod() ? dotprod : base;
}

}  // namespace ll::kernels::internal

#endif  // __aarch64__
