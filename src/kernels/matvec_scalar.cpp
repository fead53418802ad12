// Portable reference kernels. Plain IEEE float arithmetic without fused multiply-add (the
// module builds with -ffp-contract=off), so these give the same bits on every platform.
// Float dots keep 8 interleaved partial sums like the 8-lane SIMD paths, which also lets
// compilers vectorize them without reassociating anything.
#include <cmath>

#include "kernels/kernels_internal.h"

namespace ll::kernels::internal {
namespace {

struct WF32 {
  static float at(const uint8_t* row, int64_t k) {
    float v;
    std::memcpy(&v, row + 4 * k, 4);
    return v;
  }
};
struct WF16 {
  static float at(const uint8_t* row, int64_t k) { return half_to_float(load_u16(row + 2 * k)); }
};
struct WBF16 {
  static float at(const uint8_t* row, int64_t k) { return bfloat_to_float(load_u16(row + 2 * k)); }
};

// Same tree as the SIMD horizontal sums: halves, then quarters, then the last pair.
inline float hsum8(const float* a) {
  return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

template <class W>
float dot_float(const uint8_t* w, const float* x, int64_t n) {
  float acc[8] = {};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    for (int j = 0; j < 8; ++j) acc[j] = acc[j] + W::at(w, k + j) * x[k + j];
  }
  float s = hsum8(acc);
  for (; k < n; ++k) s = s + W::at(w, k) * x[k];
  return s;
}

inline int block_dot_q8(const BlockQ8_0& w, const int8_t* x) {
  int sum = 0;
  for (int j = 0; j < kQK8_0; ++j) sum += w.qs[j] * x[j];
  return sum;
}

inline int block_dot_q4(const BlockQ4_0& w, const int8_t* x) {
  int sum = 0;
  for (int j = 0; j < kQK4_0 / 2; ++j) {
    sum += ((w.qs[j] & 0x0F) - 8) * x[j];
    sum += ((w.qs[j] >> 4) - 8) * x[j + kQK4_0 / 2];
  }
  return sum;
}

template <class Block, int (*kBlockDot)(const Block&, const int8_t*)>
float dot_quant(const uint8_t* w, const uint8_t* x, int64_t n) {
  const auto* wb = reinterpret_cast<const Block*>(w);
  const int64_t nb = n / kQK8_0;
  ActRow xr = ActRow::at(x, nb);
  float s = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    float d = half_to_float(wb[i].d) * xr.d[i];
    s = s + static_cast<float>(kBlockDot(wb[i], xr.qs + i * kQK8_0)) * d;
  }
  return s;
}

template <typename XT, float (*kDot)(const uint8_t*, const XT*, int64_t)>
void gemm_rows(const GemmArgs& a, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = a.w + r * a.w_stride;
    for (int64_t b = 0; b < a.n_batch; ++b) {
      auto* xb = reinterpret_cast<const XT*>(static_cast<const uint8_t*>(a.x) + b * a.x_stride);
      a.y[b * a.y_stride + r] = kDot(row, xb, a.n_cols);
    }
  }
}

void gemm(const GemmArgs& a, int64_t r0, int64_t r1) {
  switch (a.wtype) {
    case DType::kF32:
      return gemm_rows<float, dot_float<WF32>>(a, r0, r1);
    case DType::kF16:
      return gemm_rows<float, dot_float<WF16>>(a, r0, r1);
    case DType::kBF16:
      return gemm_rows<float, dot_float<WBF16>>(a, r0, r1);
    case DType::kQ8_0:
      return gemm_rows<uint8_t, dot_quant<BlockQ8_0, block_dot_q8>>(a, r0, r1);
    case DType::kQ4_0:
      return gemm_rows<uint8_t, dot_quant<BlockQ4_0, block_dot_q4>>(a, r0, r1);
    default:
      return gemm_ext_scalar(a, r0, r1);
  }
}

// Packed layout (packed.h): row i of a group, block k. The quants are read back through the
// layout so that the reference also checks it.
void gemm_packed_rows(const GemmArgs& a, int64_t r0, int64_t r1) {
  const int64_t nb = a.n_cols / kQK8_0;
  const bool q8 = a.wtype == DType::kQ8_0;
  const size_t sbytes = packed_scale_bytes(nb);
  const size_t qbytes = q8 ? 256 : 128;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* grp = a.w + (r / 8) * a.w_stride;
    const int64_t i = r % 8;
    for (int64_t b = 0; b < a.n_batch; ++b) {
      ActRow x = ActRow::at(static_cast<const uint8_t*>(a.x) + b * a.x_stride, nb);
      float acc = 0.0f;
      for (int64_t k = 0; k < nb; ++k) {
        const uint8_t* q = grp + sbytes + k * qbytes;
        const int8_t* xq = x.qs + k * kQK8_0;
        int sum = 0;
        if (q8) {
          for (int j = 0; j < 8; ++j) {
            for (int e = 0; e < 4; ++e) sum += (q[j * 32 + i * 4 + e] - 128) * xq[4 * j + e];
          }
        } else {
          for (int j = 0; j < 4; ++j) {
            for (int e = 0; e < 4; ++e) {
              const uint8_t v = q[j * 32 + i * 4 + e];
              sum += ((v & 0x0F) - 8) * xq[4 * j + e] + ((v >> 4) - 8) * xq[16 + 4 * j + e];
            }
          }
        }
        const float d = half_to_float(load_u16(grp + (k * 8 + i) * 2)) * x.d[k];
        acc = acc + static_cast<float>(sum) * d;
      }
      a.y[b * a.y_stride + r] = acc;
    }
  }
}

void gemm_packed(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (a.claims == nullptr) return gemm_packed_rows(a, r0, r1);
  auto rows = [&](int64_t g) { gemm_packed_rows(a, 8 * g, 8 * g + 8); };
  for_each_claimed_group(a, rows, rows);
}

void quantize_act(const float* x, int64_t n, void* out, int sum_scale) {
  // Adding and removing 1.5 * 2^23 rounds to nearest-even for |v| < 2^22, like SIMD
  // round/convert instructions do, without depending on the libm rounding function.
  constexpr float kMagic = 12582912.0f;
  const int64_t nb = n / kQK8_0;
  auto* qs = static_cast<int8_t*>(out);
  auto* ds = reinterpret_cast<float*>(qs + nb * 32);
  auto* negsums = reinterpret_cast<int32_t*>(qs + nb * 36);
  auto* bsums = reinterpret_cast<int32_t*>(qs + nb * 68);
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK8_0;
    int8_t* q = qs + i * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) {
      float a = std::fabs(xb[j]);
      amax = a > amax ? a : amax;
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    ds[i] = d;
    for (int j = 0; j < kQK8_0; ++j) {
      float v = (xb[j] * id + kMagic) - kMagic;
      q[j] = static_cast<int8_t>(static_cast<int>(v));
    }
    if (sum_scale != 0) {
      for (int l = 0; l < 8; ++l) {
        negsums[i * 8 + l] = -sum_scale * (q[4 * l] + q[4 * l + 1] + q[4 * l + 2] + q[4 * l + 3]);
      }
      int sum = 0;
      for (int j = 0; j < kQK8_0; ++j) sum += q[j];
      bsums[i] = -sum_scale * sum;
    }
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  return dot_float<WF32>(reinterpret_cast<const uint8_t*>(a), b, n);
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] + a * x[i];
}

uint64_t read_sum(const void* p, size_t n) {
  const auto* bytes = static_cast<const uint8_t*>(p);
  uint64_t s[4] = {};
  for (size_t off = 0; off + 256 <= n; off += 256) {
    for (size_t line = 0; line < 256; line += 64) {
      __builtin_prefetch(bytes + off + line + kReadAheadL1, 0, 3);
      __builtin_prefetch(bytes + off + line + kReadAheadL2, 0, 2);
    }
    for (size_t i = 0; i < 256; i += 32) {
      for (int j = 0; j < 4; ++j) {
        uint64_t v;
        std::memcpy(&v, bytes + off + i + 8 * j, 8);
        s[j] += v;
      }
    }
  }
  return s[0] + s[1] + s[2] + s[3];
}

}  // namespace

const KernelTable& scalar_table() {
  static const KernelTable table{Isa::kScalar, quantize_act,    gemm,
                                 gemm_packed,  dot_f32,         axpy_f32,
                                 read_sum,     gemm_ext_scalar, gemm_packed_k_scalar};
  return table;
}

}  // namespace ll::kernels::internal
