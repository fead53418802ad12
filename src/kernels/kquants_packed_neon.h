// Packed Q4_K/Q6_K products (packed.h) for NEON, one Dot policy per translation unit:
// kquants_neon.cpp (baseline SMULL + pairwise adds) and kquants_dotprod_neon.cpp (SDOT). The
// same sums and float operations as the AVX2 version (kquants_packed_avx2.h), in halves of 4
// rows, so every lane equals the scalar reference's dot bit for bit.
#pragma once

#include <arm_neon.h>

#include <cstring>

#include "kernels/kernels_internal.h"

namespace ll::kernels::internal {
namespace {

inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// acc + (float(sumi) * (d * dx) - float(summ) * (dmin * dx)), lane by lane.
inline float32x4_t k_update4(float32x4_t acc, int32x4_t sumi, int32x4_t summ, float32x4_t d,
                             float32x4_t dmin, float dx) {
  const float32x4_t vdx = vdupq_n_f32(dx);
  const float32x4_t t1 = vmulq_f32(vcvtq_f32_s32(sumi), vmulq_f32(d, vdx));
  const float32x4_t t2 = vmulq_f32(vcvtq_f32_s32(summ), vmulq_f32(dmin, vdx));
  return vaddq_f32(acc, vsubq_f32(t1, t2));
}

inline float32x4_t halves_to_f32(const uint8_t* p) {
  uint16_t h[4];
  std::memcpy(h, p, 8);
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

// Lane r of the result: m[r][0] * bs0 + m[r][1] * bs1, for rows 4 half .. 4 half + 3 of the
// 16 (row, pair) mins bytes at p.
inline int32x4_t mins_pair(const uint8_t* p, int half, int16_t bs0, int16_t bs1) {
  const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(p + 8 * half)));
  const int16_t bsv[8] = {bs0, bs1, bs0, bs1, bs0, bs1, bs0, bs1};
  const int16x8_t b = vld1q_s16(bsv);
  const int32x4_t lo = vmull_s16(vget_low_s16(m), vget_low_s16(b));
  const int32x4_t hi = vmull_s16(vget_high_s16(m), vget_high_s16(b));
  return vpaddq_s32(lo, hi);
}

template <class Dot>
void q4k_group_neon(const GemmArgs& a, int64_t g, int64_t bt) {
  const int64_t nb = a.n_cols / kQK_K;
  const uint8_t* grp = a.w + g * a.w_stride;
  const auto* x =
      reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a.x) + bt * a.x_stride);
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  float32x4_t acc[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* p = grp + i * kPackedQ4KBytes;
    __builtin_prefetch(p + 2048, 0, 3);
    int32x4_t sumi[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
    for (int j = 0; j < 8; ++j) {
      int32x4_t t[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
      for (int k = 0; k < 8; ++k) {
        const uint8_t* v = p + 160 + (8 * (j / 2) + k) * 32;
        const int32_t xv = load_i32(x[i].qs + 64 * (j / 2) + 32 * (j % 2) + 4 * k);
        for (int h = 0; h < 2; ++h) {
          const uint8x16_t q = vld1q_u8(v + 16 * h);
          const uint8x16_t u = j % 2 == 0 ? vandq_u8(q, low4) : vshrq_n_u8(q, 4);
          t[h] = Dot::dp(t[h], vreinterpretq_s8_u8(u), xv);
        }
      }
      for (int h = 0; h < 2; ++h) {
        const int32x4_t sc = vreinterpretq_s32_u32(
            vmovl_u16(vget_low_u16(vmovl_u8(vld1_u8(p + 32 + 8 * j + 4 * h)))));
        sumi[h] = vaddq_s32(sumi[h], vmulq_s32(t[h], sc));
      }
    }
    for (int h = 0; h < 2; ++h) {
      int32x4_t summ = vdupq_n_s32(0);
      for (int q = 0; q < 4; ++q) {
        const int16_t* bs = x[i].bsums + 4 * q;
        summ = vaddq_s32(summ, mins_pair(p + 96 + 16 * q, h, static_cast<int16_t>(bs[0] + bs[1]),
                                         static_cast<int16_t>(bs[2] + bs[3])));
      }
      acc[h] = k_update4(acc[h], sumi[h], summ, halves_to_f32(p + 8 * h),
                         halves_to_f32(p + 16 + 8 * h), x[i].d);
    }
  }
  float* y = a.y + bt * a.y_stride + 8 * g;
  vst1q_f32(y, acc[0]);
  vst1q_f32(y + 4, acc[1]);
}

template <class Dot>
void q6k_group_neon(const GemmArgs& a, int64_t g, int64_t bt) {
  const int64_t nb = a.n_cols / kQK_K;
  const uint8_t* grp = a.w + g * a.w_stride;
  const auto* x =
      reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(a.x) + bt * a.x_stride);
  const uint8x16_t low4 = vdupq_n_u8(0x0F), three = vdupq_n_u8(3);
  float32x4_t acc[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* p = grp + i * kPackedQ6KBytes;
    __builtin_prefetch(p + 2048, 0, 3);
    int32x4_t sumi[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
    for (int j = 0; j < 16; ++j) {
      const int hh = j / 8, k = j % 8 / 2, half = j % 2;
      int32x4_t t[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
      for (int w = 0; w < 4; ++w) {
        const uint8_t* l = p + 144 + (16 * hh + 8 * (k % 2) + 4 * half + w) * 32;
        const uint8_t* hb = p + 1168 + (8 * hh + 4 * half + w) * 32;
        const int32_t xv = load_i32(x[i].qs + 128 * hh + 32 * k + 16 * half + 4 * w);
        for (int h = 0; h < 2; ++h) {
          const uint8x16_t lq = vld1q_u8(l + 16 * h), hq = vld1q_u8(hb + 16 * h);
          const uint8x16_t lo = k < 2 ? vandq_u8(lq, low4) : vshrq_n_u8(lq, 4);
          uint8x16_t hi;
          switch (k) {
            case 0:
              hi = vandq_u8(hq, three);
              break;
            case 1:
              hi = vandq_u8(vshrq_n_u8(hq, 2), three);
              break;
            case 2:
              hi = vandq_u8(vshrq_n_u8(hq, 4), three);
              break;
            default:
              hi = vshrq_n_u8(hq, 6);
              break;
          }
          const uint8x16_t u = vorrq_u8(lo, vshlq_n_u8(hi, 4));
          t[h] = Dot::dp(t[h], vreinterpretq_s8_u8(u), xv);
        }
      }
      for (int h = 0; h < 2; ++h) {
        const int32x4_t sc = vmovl_s16(vget_low_s16(
            vmovl_s8(vld1_s8(reinterpret_cast<const int8_t*>(p + 16 + 8 * j + 4 * h)))));
        const int32x4_t s = vsubq_s32(t[h], vdupq_n_s32(32 * x[i].bsums[j]));
        sumi[h] = vaddq_s32(sumi[h], vmulq_s32(s, sc));
      }
    }
    for (int h = 0; h < 2; ++h) {
      const float32x4_t vdx = vdupq_n_f32(x[i].d);
      acc[h] = vaddq_f32(
          acc[h], vmulq_f32(vcvtq_f32_s32(sumi[h]), vmulq_f32(halves_to_f32(p + 8 * h), vdx)));
    }
  }
  float* y = a.y + bt * a.y_stride + 8 * g;
  vst1q_f32(y, acc[0]);
  vst1q_f32(y + 4, acc[1]);
}

template <class Dot>
void gemm_packed_k_neon_impl(const GemmArgs& a, int64_t r0, int64_t r1) {
  auto group = [&](int64_t g) {
    for (int64_t b = 0; b < a.n_batch; ++b) {
      a.wtype == DType::kQ4_K ? q4k_group_neon<Dot>(a, g, b) : q6k_group_neon<Dot>(a, g, b);
    }
  };
  if (a.claims != nullptr) return for_each_claimed_group(a, group, group);
  for (int64_t g = r0 / 8; g < r1 / 8; ++g) group(g);
}

}  // namespace
}  // namespace ll::kernels::internal
