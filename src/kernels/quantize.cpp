// Weight-format conversion. Scalar only: it runs when loading or converting models, not per
// token, and a single implementation keeps quantized files identical across machines.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

namespace ll::kernels {
namespace {

void check_blocks(int64_t n) {
  if (n % kQK8_0 != 0) {
    std::fprintf(stderr, "fatal: kernels: quantized row length %lld is not a multiple of 32\n",
                 static_cast<long long>(n));
    std::abort();
  }
}

void quantize_q8_0(const float* x, BlockQ8_0* out, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float* xb = x + i * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) out[i].qs[j] = static_cast<int8_t>(std::round(xb[j] * id));
  }
}

void quantize_q4_0(const float* x, BlockQ4_0* out, int64_t n) {
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
    out[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      int lo = static_cast<int8_t>(xb[j] * id + 8.5f);
      int hi = static_cast<int8_t>(xb[j + kQK4_0 / 2] * id + 8.5f);
      lo = lo < 15 ? lo : 15;
      hi = hi < 15 ? hi : 15;
      out[i].qs[j] = static_cast<uint8_t>(lo | hi << 4);
    }
  }
}

}  // namespace

void quantize_row(DType t, const float* x, void* out, int64_t n) {
  switch (t) {
    case DType::kF32:
      std::memcpy(out, x, n * sizeof(float));
      return;
    case DType::kF16: {
      auto* y = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
      return;
    }
    case DType::kBF16: {
      auto* y = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
      return;
    }
    case DType::kQ8_0:
      check_blocks(n);
      return quantize_q8_0(x, static_cast<BlockQ8_0*>(out), n);
    case DType::kQ4_0:
      check_blocks(n);
      return quantize_q4_0(x, static_cast<BlockQ4_0*>(out), n);
  }
}

void dequantize_row(DType t, const void* in, float* y, int64_t n) {
  switch (t) {
    case DType::kF32:
      std::memcpy(y, in, n * sizeof(float));
      return;
    case DType::kF16: {
      auto* h = static_cast<const uint16_t*>(in);
      for (int64_t i = 0; i < n; ++i) y[i] = internal::half_to_float(h[i]);
      return;
    }
    case DType::kBF16: {
      auto* h = static_cast<const uint16_t*>(in);
      for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(h[i]);
      return;
    }
    case DType::kQ8_0: {
      check_blocks(n);
      auto* b = static_cast<const BlockQ8_0*>(in);
      for (int64_t i = 0; i < n / kQK8_0; ++i) {
        float d = internal::half_to_float(b[i].d);
        for (int j = 0; j < kQK8_0; ++j) y[i * kQK8_0 + j] = d * b[i].qs[j];
      }
      return;
    }
    case DType::kQ4_0: {
      check_blocks(n);
      auto* b = static_cast<const BlockQ4_0*>(in);
      for (int64_t i = 0; i < n / kQK4_0; ++i) {
        float d = internal::half_to_float(b[i].d);
        float* yb = y + i * kQK4_0;
        for (int j = 0; j < kQK4_0 / 2; ++j) {
          yb[j] = d * ((b[i].qs[j] & 0x0F) - 8);
          yb[j + kQK4_0 / 2] = d * ((b[i].qs[j] >> 4) - 8);
        }
      }
      return;
    }
  }
}

}  // namespace ll::kernels
