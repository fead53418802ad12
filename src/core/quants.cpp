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

}  // namespace ll::quants
