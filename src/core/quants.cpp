#include "core/quants.h"

#include <cmath>
#include <cstring>

#include "core/types.h"

namespace ll::quants {

void f32_to_float(const void* in, float* out, int64_t n) {
  std::memcpy(out, in, n * sizeof(float));
}
void f32_from_float(const float* in, void* out, int64_t n) {
  std::memcpy(out, in, n * sizeof(float));
}

void f16_to_float(const void* in, float* out, int64_t n) {
  auto* h = static_cast<const uint16_t*>(in);
  for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_fp32(h[i]);
}
void f16_from_float(const float* in, void* out, int64_t n) {
  auto* y = static_cast<uint16_t*>(out);
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(in[i]);
}

void bf16_to_float(const void* in, float* out, int64_t n) {
  auto* h = static_cast<const uint16_t*>(in);
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_fp32(h[i]);
}
void bf16_from_float(const float* in, void* out, int64_t n) {
  auto* y = static_cast<uint16_t*>(out);
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(in[i]);
}

// ---- Q8_0: d = amax / 127, q = round(x / d) (ggml's reference quantizer) ----

void q8_0_from_float(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(out);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float* xb = x + i * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) b[i].qs[j] = static_cast<int8_t>(std::round(xb[j] * id));
  }
}

void q8_0_to_float(const void* in, float* y, int64_t n) {
  auto* b = static_cast<const BlockQ8_0*>(in);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK8_0; ++j) y[i * kQK8_0 + j] = d * b[i].qs[j];
  }
}

// ---- Q4_0: d = max / -8 where max is the signed value of largest magnitude ----

void q4_0_from_float(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(out);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* xb = x + i * kQK4_0;
    // The signed extreme maps to -8, which uses the full [-8, 7] range on the side that has it.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(xb[j]) > amax) {
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    }
    float d = max / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      int lo = static_cast<int8_t>(xb[j] * id + 8.5f);
      int hi = static_cast<int8_t>(xb[j + kQK4_0 / 2] * id + 8.5f);
      lo = lo < 15 ? lo : 15;
      hi = hi < 15 ? hi : 15;
      b[i].qs[j] = static_cast<uint8_t>(lo | hi << 4);
    }
  }
}

void q4_0_to_float(const void* in, float* y, int64_t n) {
  auto* b = static_cast<const BlockQ4_0*>(in);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    float d = fp16_to_fp32(b[i].d);
    float* yb = y + i * kQK4_0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      yb[j] = d * ((b[i].qs[j] & 0x0F) - 8);
      yb[j + kQK4_0 / 2] = d * ((b[i].qs[j] >> 4) - 8);
    }
  }
}

// ---- Shared fitting helpers for the new quantizers ----
//
// They need not match llama.cpp's choices: any choice of scales gives a valid file. Each
// sub-block tries a few scales around the extreme-value one and keeps the one with the least
// squared error (with the least-squares scale for the chosen levels), which is most of what
// the more elaborate searches gain.

namespace {

int nearest(float v) {
  return static_cast<int>(std::lround(v));
}

int clampi(int v, int lo, int hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

// x ~ scale * q with q in [-nmax, nmax - 1]; returns scale (0 if x is all zero).
float fit_symmetric(const float* x, int n, int nmax, int8_t* q) {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax == 0.0f) {
    for (int i = 0; i < n; ++i) q[i] = 0;
    return 0.0f;
  }
  float best_scale = 0.0f, best_gain = -1.0f;
  for (int k = -4; k <= 4; ++k) {
    const float iscale = -(nmax + 0.1f * k) / max;
    float sxq = 0.0f, sqq = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
      sxq += x[i] * l;
      sqq += static_cast<float>(l * l);
    }
    // Error = sum x^2 - sxq^2 / sqq for the least-squares scale, so maximise the gain.
    if (sqq > 0.0f && sxq * sxq / sqq > best_gain) {
      best_gain = sxq * sxq / sqq;
      best_scale = sxq / sqq;
    }
  }
  for (int i = 0; i < n; ++i) {
    q[i] = static_cast<int8_t>(
        best_scale != 0.0f ? clampi(nearest(x[i] / best_scale), -nmax, nmax - 1) : 0);
  }
  return best_scale;
}

// x ~ scale * q - min with q in [0, nmax], scale >= 0, min >= 0 (the offset is never positive,
// as the formats store it unsigned). Returns scale, sets *min.
float fit_asymmetric(const float* x, int n, int nmax, float* min_out) {
  float lo = 0.0f, hi = x[0];
  for (int i = 0; i < n; ++i) {
    lo = std::fmin(lo, x[i]);
    hi = std::fmax(hi, x[i]);
  }
  *min_out = -lo;
  if (hi <= lo) return 0.0f;
  float best_scale = (hi - lo) / nmax, best_min = -lo, best_err = INFINITY;
  for (int k = -2; k <= 6; ++k) {
    const float iscale = (nmax + 0.1f * k) / (hi - lo);
    float sq = 0, sqq = 0, sx = 0, sxq = 0;
    int l[256];
    for (int i = 0; i < n; ++i) {
      l[i] = clampi(nearest(iscale * (x[i] - lo)), 0, nmax);
      sq += l[i];
      sqq += static_cast<float>(l[i] * l[i]);
      sx += x[i];
      sxq += x[i] * l[i];
    }
    const float det = n * sqq - sq * sq;
    if (det <= 0.0f) continue;
    float s = (n * sxq - sq * sx) / det;
    float b = (sqq * sx - sq * sxq) / det;
    if (b > 0.0f) {  // the offset must stay <= 0: refit the scale alone
      b = 0.0f;
      s = sqq > 0.0f ? sxq / sqq : 0.0f;
    }
    if (s <= 0.0f) continue;
    float err = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float e = s * l[i] + b - x[i];
      err += e * e;
    }
    if (err < best_err) {
      best_err = err;
      best_scale = s;
      best_min = -b;
    }
  }
  *min_out = best_min;
  return best_scale;
}

// Quantizes non-negative sub-block values v[n] to integers in [0, lmax] sharing one fp16 scale;
// returns that scale's fp16 bits.
uint16_t quantize_unsigned_scales(const float* v, int n, int lmax, uint8_t* l) {
  float vmax = 0.0f;
  for (int i = 0; i < n; ++i) vmax = std::fmax(vmax, v[i]);
  const uint16_t d = fp32_to_fp16(vmax / lmax);
  const float df = fp16_to_fp32(d);
  for (int i = 0; i < n; ++i) {
    l[i] = static_cast<uint8_t>(df > 0.0f ? clampi(nearest(v[i] / df), 0, lmax) : 0);
  }
  return d;
}

// Signed sub-block scales to integers in [-lmax, lmax - 1] sharing one fp16 scale.
uint16_t quantize_signed_scales(const float* v, int n, int lmax, int* l) {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(v[i]) > amax) {
      amax = std::fabs(v[i]);
      max = v[i];
    }
  }
  const uint16_t d = fp32_to_fp16(max / -lmax);
  const float df = fp16_to_fp32(d);
  for (int i = 0; i < n; ++i) l[i] = df != 0.0f ? clampi(nearest(v[i] / df), -lmax, lmax - 1) : 0;
  return d;
}

// Requantizes x[n] ~ dl * q - ml with the final (rounded) sub-block scale and offset.
void requantize_unsigned(const float* x, int n, float dl, float ml, int nmax, uint8_t* q) {
  for (int i = 0; i < n; ++i) {
    q[i] = static_cast<uint8_t>(dl > 0.0f ? clampi(nearest((x[i] + ml) / dl), 0, nmax) : 0);
  }
}

void requantize_signed(const float* x, int n, float dl, int nmax, int8_t* q) {
  for (int i = 0; i < n; ++i) {
    q[i] = static_cast<int8_t>(dl != 0.0f ? clampi(nearest(x[i] / dl), -nmax, nmax - 1) : 0);
  }
}

// Q3_K: 16 six-bit values (scale + 32) in 12 bytes: low nibbles of 0..7 in bytes 0..7, of 8..15
// in their high nibbles; the 2 high bits of value j at bits 2 * (j / 4) of byte 8 + j % 4.
void pack_scales_q3(const uint8_t* v, uint8_t* s) {
  std::memset(s, 0, 12);
  for (int j = 0; j < 16; ++j) {
    s[j % 8] |= static_cast<uint8_t>((v[j] & 0xF) << (j < 8 ? 0 : 4));
    s[8 + j % 4] |= static_cast<uint8_t>((v[j] >> 4) << (2 * (j / 4)));
  }
}

}  // namespace

void pack_scales_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(ls[j] | (ls[j + 4] >> 4) << 6);
    s[j + 4] = static_cast<uint8_t>(lm[j] | (lm[j + 4] >> 4) << 6);
    s[j + 8] = static_cast<uint8_t>((ls[j + 4] & 0xF) | (lm[j + 4] & 0xF) << 4);
  }
}

void scale_min_k4(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
    *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
  }
}

int scale_q3(const uint8_t* s, int j) {
  const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
  const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (lo | hi << 4) - 32;
}

// ---- Q4_1 / Q5_0 / Q5_1 (32-element blocks) ----

void q4_1_from_float(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ4_1*>(out);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* xb = x + i * kQK4_0;
    float lo = xb[0], hi = xb[0];
    for (int j = 1; j < kQK4_0; ++j) lo = std::fmin(lo, xb[j]), hi = std::fmax(hi, xb[j]);
    b[i].d = fp32_to_fp16((hi - lo) / 15.0f);
    b[i].m = fp32_to_fp16(lo);
    const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int q0 = d > 0.0f ? clampi(nearest((xb[j] - m) / d), 0, 15) : 0;
      const int q1 = d > 0.0f ? clampi(nearest((xb[j + 16] - m) / d), 0, 15) : 0;
      b[i].qs[j] = static_cast<uint8_t>(q0 | q1 << 4);
    }
  }
}

void q4_1_to_float(const void* in, float* y, int64_t n) {
  auto* b = static_cast<const BlockQ4_1*>(in);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
    float* yb = y + i * kQK4_0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      yb[j] = d * (b[i].qs[j] & 0x0F) + m;
      yb[j + 16] = d * (b[i].qs[j] >> 4) + m;
    }
  }
}

namespace {

uint32_t load_qh(const uint8_t* qh) {
  return static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 |
         static_cast<uint32_t>(qh[2]) << 16 | static_cast<uint32_t>(qh[3]) << 24;
}

void store_q5(const int* q, uint8_t* qs, uint8_t* qh) {
  uint32_t h = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0xF) | (q[j + 16] & 0xF) << 4);
    h |= static_cast<uint32_t>(q[j] >> 4) << j | static_cast<uint32_t>(q[j + 16] >> 4) << (j + 16);
  }
  for (int k = 0; k < 4; ++k) qh[k] = static_cast<uint8_t>(h >> (8 * k));
}

// The 5-bit values of a Q5 block, element order.
void load_q5(const uint8_t* qs, const uint8_t* qhb, int* q) {
  const uint32_t qh = load_qh(qhb);
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 0xF) | ((qh >> j) & 1) << 4;
    q[j + 16] = (qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4;
  }
}

}  // namespace

void q5_0_from_float(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ5_0*>(out);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* xb = x + i * kQK4_0;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(xb[j]) > amax) amax = std::fabs(xb[j]), max = xb[j];
    }
    b[i].d = fp32_to_fp16(max / -16.0f);
    const float d = fp16_to_fp32(b[i].d);
    int q[32];
    for (int j = 0; j < kQK4_0; ++j) q[j] = d != 0.0f ? clampi(nearest(xb[j] / d) + 16, 0, 31) : 16;
    store_q5(q, b[i].qs, b[i].qh);
  }
}

void q5_0_to_float(const void* in, float* y, int64_t n) {
  auto* b = static_cast<const BlockQ5_0*>(in);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    int q[32];
    load_q5(b[i].qs, b[i].qh, q);
    for (int j = 0; j < kQK4_0; ++j) y[i * kQK4_0 + j] = d * (q[j] - 16);
  }
}

void q5_1_from_float(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ5_1*>(out);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* xb = x + i * kQK4_0;
    float lo = xb[0], hi = xb[0];
    for (int j = 1; j < kQK4_0; ++j) lo = std::fmin(lo, xb[j]), hi = std::fmax(hi, xb[j]);
    b[i].d = fp32_to_fp16((hi - lo) / 31.0f);
    b[i].m = fp32_to_fp16(lo);
    const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
    int q[32];
    for (int j = 0; j < kQK4_0; ++j) q[j] = d > 0.0f ? clampi(nearest((xb[j] - m) / d), 0, 31) : 0;
    store_q5(q, b[i].qs, b[i].qh);
  }
}

void q5_1_to_float(const void* in, float* y, int64_t n) {
  auto* b = static_cast<const BlockQ5_1*>(in);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
    int q[32];
    load_q5(b[i].qs, b[i].qh, q);
    for (int j = 0; j < kQK4_0; ++j) y[i * kQK4_0 + j] = d * q[j] + m;
  }
}

// ---- K-quants ----

// Q2_K: element e of a super-block is bits 2 * (e % 128 / 32) of qs[32 * (e / 128) + e % 32];
// its sub-block (scale and min) is e / 16.
void q2_k_from_float(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ2_K*>(out);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* xb = x + i * kQK_K;
    float scales[16], mins[16];
    for (int j = 0; j < 16; ++j) scales[j] = fit_asymmetric(xb + 16 * j, 16, 3, &mins[j]);
    uint8_t ls[16], lm[16];
    b[i].d = quantize_unsigned_scales(scales, 16, 15, ls);
    b[i].dmin = quantize_unsigned_scales(mins, 16, 15, lm);
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    uint8_t q[kQK_K];
    for (int j = 0; j < 16; ++j) {
      b[i].scales[j] = static_cast<uint8_t>(ls[j] | lm[j] << 4);
      requantize_unsigned(xb + 16 * j, 16, d * ls[j], dmin * lm[j], 3, q + 16 * j);
    }
    std::memset(b[i].qs, 0, sizeof(b[i].qs));
    for (int e = 0; e < kQK_K; ++e) {
      b[i].qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(q[e] << (2 * (e % 128 / 32)));
    }
  }
}

void q2_k_to_float(const void* in, float* y, int64_t n) {
  auto* b = static_cast<const BlockQ2_K*>(in);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int e = 0; e < kQK_K; ++e) {
      const int q = (b[i].qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
      const uint8_t sc = b[i].scales[e / 16];
      y[i * kQK_K + e] = d * (sc & 0xF) * q - dmin * (sc >> 4);
    }
  }
}

// Q3_K: the 2 low bits as Q2_K; the high bit of element e is bit e / 32 of hmask[e % 32], and
// a clear bit subtracts 4.
void q3_k_from_float(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ3_K*>(out);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* xb = x + i * kQK_K;
    float scales[16];
    int8_t q[kQK_K];
    for (int j = 0; j < 16; ++j) scales[j] = fit_symmetric(xb + 16 * j, 16, 4, q + 16 * j);
    int ls[16];
    b[i].d = quantize_signed_scales(scales, 16, 32, ls);
    const float d = fp16_to_fp32(b[i].d);
    uint8_t biased[16];
    for (int j = 0; j < 16; ++j) {
      biased[j] = static_cast<uint8_t>(ls[j] + 32);
      requantize_signed(xb + 16 * j, 16, d * ls[j], 4, q + 16 * j);
    }
    pack_scales_q3(biased, b[i].scales);
    std::memset(b[i].qs, 0, sizeof(b[i].qs));
    std::memset(b[i].hmask, 0, sizeof(b[i].hmask));
    for (int e = 0; e < kQK_K; ++e) {
      const int u = q[e] + 4;  // 0..7
      b[i].qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((u & 3) << (2 * (e % 128 / 32)));
      b[i].hmask[e % 32] |= static_cast<uint8_t>((u >> 2) << (e / 32));
    }
  }
}

void q3_k_to_float(const void* in, float* y, int64_t n) {
  auto* b = static_cast<const BlockQ3_K*>(in);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int e = 0; e < kQK_K; ++e) {
      const int lo = (b[i].qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
      const int q = lo - ((b[i].hmask[e % 32] >> (e / 32)) & 1 ? 0 : 4);
      y[i * kQK_K + e] = d * scale_q3(b[i].scales, e / 16) * q;
    }
  }
}

namespace {

// Q4_K and Q5_K share their scales: 8 sub-blocks of 32, 6-bit scales and mins.
template <int kNmax>
void fit_k4(const float* xb, uint16_t* d_out, uint16_t* dmin_out, uint8_t* scales, uint8_t* q) {
  float sc[8], mn[8];
  for (int j = 0; j < 8; ++j) sc[j] = fit_asymmetric(xb + 32 * j, 32, kNmax, &mn[j]);
  uint8_t ls[8], lm[8];
  *d_out = quantize_unsigned_scales(sc, 8, 63, ls);
  *dmin_out = quantize_unsigned_scales(mn, 8, 63, lm);
  pack_scales_k4(ls, lm, scales);
  const float d = fp16_to_fp32(*d_out), dmin = fp16_to_fp32(*dmin_out);
  for (int j = 0; j < 8; ++j) {
    requantize_unsigned(xb + 32 * j, 32, d * ls[j], dmin * lm[j], kNmax, q + 32 * j);
  }
}

}  // namespace

// Q4_K: element e is nibble (e / 32) % 2 of qs[32 * (e / 64) + e % 32]; sub-block e / 32.
void q4_k_from_float(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ4_K*>(out);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t q[kQK_K];
    fit_k4<15>(x + i * kQK_K, &b[i].d, &b[i].dmin, b[i].scales, q);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        b[i].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | q[64 * c + 32 + l] << 4);
      }
    }
  }
}

void q4_k_to_float(const void* in, float* y, int64_t n) {
  auto* b = static_cast<const BlockQ4_K*>(in);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int e = 0; e < kQK_K; ++e) {
      int sc, m;
      scale_min_k4(b[i].scales, e / 32, &sc, &m);
      const int q = (b[i].qs[32 * (e / 64) + e % 32] >> (4 * (e / 32 % 2))) & 0xF;
      y[i * kQK_K + e] = d * sc * q - dmin * m;
    }
  }
}

// Q5_K: the low 4 bits as Q4_K, the fifth is bit e / 32 of qh[e % 32].
void q5_k_from_float(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ5_K*>(out);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t q[kQK_K];
    fit_k4<31>(x + i * kQK_K, &b[i].d, &b[i].dmin, b[i].scales, q);
    std::memset(b[i].qh, 0, sizeof(b[i].qh));
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        b[i].qs[32 * c + l] =
            static_cast<uint8_t>((q[64 * c + l] & 0xF) | (q[64 * c + 32 + l] & 0xF) << 4);
      }
    }
    for (int e = 0; e < kQK_K; ++e)
      b[i].qh[e % 32] |= static_cast<uint8_t>((q[e] >> 4) << (e / 32));
  }
}

void q5_k_to_float(const void* in, float* y, int64_t n) {
  auto* b = static_cast<const BlockQ5_K*>(in);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int e = 0; e < kQK_K; ++e) {
      int sc, m;
      scale_min_k4(b[i].scales, e / 32, &sc, &m);
      const int lo = (b[i].qs[32 * (e / 64) + e % 32] >> (4 * (e / 32 % 2))) & 0xF;
      const int q = lo | ((b[i].qh[e % 32] >> (e / 32)) & 1) << 4;
      y[i * kQK_K + e] = d * sc * q - dmin * m;
    }
  }
}

// Q6_K: element e = 128 h + 32 k + l (l < 32): low nibble (k < 2) or high nibble (k >= 2) of
// ql[64 h + 32 (k % 2) + l], high bits 2 k of qh[32 h + l]; sub-block (scale) e / 16.
namespace {
inline int q6_ql_index(int e) {
  return 64 * (e / 128) + 32 * (e % 128 / 32 % 2) + e % 32;
}
inline int q6_ql_shift(int e) {
  return e % 128 / 64 * 4;
}
inline int q6_qh_index(int e) {
  return 32 * (e / 128) + e % 32;
}
inline int q6_qh_shift(int e) {
  return 2 * (e % 128 / 32);
}
}  // namespace

void q6_k_from_float(const float* x, void* out, int64_t n) {
  auto* b = static_cast<BlockQ6_K*>(out);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* xb = x + i * kQK_K;
    float scales[16];
    int8_t q[kQK_K];
    for (int j = 0; j < 16; ++j) scales[j] = fit_symmetric(xb + 16 * j, 16, 32, q + 16 * j);
    int ls[16];
    b[i].d = quantize_signed_scales(scales, 16, 128, ls);
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      b[i].scales[j] = static_cast<int8_t>(ls[j]);
      requantize_signed(xb + 16 * j, 16, d * ls[j], 32, q + 16 * j);
    }
    std::memset(b[i].ql, 0, sizeof(b[i].ql));
    std::memset(b[i].qh, 0, sizeof(b[i].qh));
    for (int e = 0; e < kQK_K; ++e) {
      const int u = q[e] + 32;  // 0..63
      b[i].ql[q6_ql_index(e)] |= static_cast<uint8_t>((u & 0xF) << q6_ql_shift(e));
      b[i].qh[q6_qh_index(e)] |= static_cast<uint8_t>((u >> 4) << q6_qh_shift(e));
    }
  }
}

void q6_k_to_float(const void* in, float* y, int64_t n) {
  auto* b = static_cast<const BlockQ6_K*>(in);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int e = 0; e < kQK_K; ++e) {
      const int lo = (b[i].ql[q6_ql_index(e)] >> q6_ql_shift(e)) & 0xF;
      const int hi = (b[i].qh[q6_qh_index(e)] >> q6_qh_shift(e)) & 3;
      y[i * kQK_K + e] = d * b[i].scales[e / 16] * ((lo | hi << 4) - 32);
    }
  }
}

// Q8_K: d = amax / 127, q = round-to-nearest-even(x * (1 / d)): the activation quantizer of
// the K-quant dot products, so it uses the same rounding as the SIMD conversions.
void q8_k_from_float(const float* x, void* out, int64_t n) {
  constexpr float kMagic = 12582912.0f;  // adding and removing 1.5 * 2^23 rounds to even
  auto* b = static_cast<BlockQ8_K*>(out);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* xb = x + i * kQK_K;
    float amax = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      const float a = std::fabs(xb[j]);
      amax = a > amax ? a : amax;
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = d;
    for (int j = 0; j < kQK_K; ++j) {
      b[i].qs[j] = static_cast<int8_t>(static_cast<int>((xb[j] * id + kMagic) - kMagic));
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += b[i].qs[16 * g + j];
      b[i].bsums[g] = static_cast<int16_t>(s);
    }
  }
}

void q8_k_to_float(const void* in, float* y, int64_t n) {
  auto* b = static_cast<const BlockQ8_K*>(in);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    for (int j = 0; j < kQK_K; ++j) y[i * kQK_K + j] = b[i].d * b[i].qs[j];
  }
}

}  // namespace ll::quants
