// Scalar reference products for the types added with the K-quants (Q4_1, Q5_0, Q5_1, Q2_K ..
// Q8_K). Every dot has one canonical form, which the SIMD kernels reproduce bit for bit:
//   * per block an exact integer sum (sumi; for types with an offset also summ, the offsets
//     times the activation sums of their sub-blocks);
//   * acc = acc + (float(sumi) * (d_w * d_x) - float(summ) * (dmin_w * d_x)) in block order from
//     acc = 0 (Q4_1/Q5_1: + float(sum x) * (m_w * d_x)); types without offsets drop the second
//     term: acc = acc + float(sumi) * (d_w * d_x).
// Q4_1/Q5_0/Q5_1 dot with 32-element ActRows, the K-quants with Q8_K blocks.
#include <vector>

#include "core/quants.h"
#include "kernels/kernels_internal.h"

namespace ll::kernels::internal {
namespace {

// ---- 32-element blocks with ActRow activations ----

float dot_q4_1(const uint8_t* w, const uint8_t* x, int64_t n) {
  const auto* wb = reinterpret_cast<const BlockQ4_1*>(w);
  const int64_t nb = n / kQK4_0;
  ActRow xr = ActRow::at(x, nb);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    const int8_t* xq = xr.qs + i * 32;
    int sumi = 0;
    for (int j = 0; j < 16; ++j)
      sumi += (wb[i].qs[j] & 0xF) * xq[j] + (wb[i].qs[j] >> 4) * xq[j + 16];
    const float dx = xr.d[i];
    const float sx = static_cast<float>(xr.bsums[i]);  // act_sum_scale -1: bsums = +sum
    acc = acc + (static_cast<float>(sumi) * (half_to_float(wb[i].d) * dx) +
                 sx * (half_to_float(wb[i].m) * dx));
  }
  return acc;
}

template <class Block>
inline int q5_sum(const Block& b, const int8_t* xq, int offset) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  int sumi = 0;
  for (int j = 0; j < 16; ++j) {
    const int q0 = ((b.qs[j] & 0xF) | ((qh >> j) & 1) << 4) - offset;
    const int q1 = ((b.qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - offset;
    sumi += q0 * xq[j] + q1 * xq[j + 16];
  }
  return sumi;
}

float dot_q5_0(const uint8_t* w, const uint8_t* x, int64_t n) {
  const auto* wb = reinterpret_cast<const BlockQ5_0*>(w);
  const int64_t nb = n / kQK4_0;
  ActRow xr = ActRow::at(x, nb);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    const int sumi = q5_sum(wb[i], xr.qs + i * 32, 16);
    acc = acc + static_cast<float>(sumi) * (half_to_float(wb[i].d) * xr.d[i]);
  }
  return acc;
}

float dot_q5_1(const uint8_t* w, const uint8_t* x, int64_t n) {
  const auto* wb = reinterpret_cast<const BlockQ5_1*>(w);
  const int64_t nb = n / kQK4_0;
  ActRow xr = ActRow::at(x, nb);
  float acc = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    const int sumi = q5_sum(wb[i], xr.qs + i * 32, 0);
    const float dx = xr.d[i];
    const float sx = static_cast<float>(xr.bsums[i]);
    acc = acc + (static_cast<float>(sumi) * (half_to_float(wb[i].d) * dx) +
                 sx * (half_to_float(wb[i].m) * dx));
  }
  return acc;
}

// ---- K-quants with Q8_K activations ----

inline float k_term(int sumi, int summ, uint16_t d, uint16_t dmin, float dx) {
  return static_cast<float>(sumi) * (half_to_float(d) * dx) -
         static_cast<float>(summ) * (half_to_float(dmin) * dx);
}

// The canonical outer loop of every K-quant dot: acc = acc + term(super-block i) in block order
// from acc = 0; kTerm gives one super-block's float term from its exact integer sums.
template <class Block, float (*kTerm)(const Block&, const BlockQ8_K&)>
float dot_k(const uint8_t* w, const uint8_t* x, int64_t n) {
  const auto* wb = reinterpret_cast<const Block*>(w);
  const auto* xb = reinterpret_cast<const BlockQ8_K*>(x);
  float acc = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) acc = acc + kTerm(wb[i], xb[i]);
  return acc;
}

float q2_k_term(const BlockQ2_K& w, const BlockQ8_K& x) {
  int sumi = 0, summ = 0;
  for (int j = 0; j < 16; ++j) {
    int s = 0;
    for (int e = 16 * j; e < 16 * j + 16; ++e) {
      s += ((w.qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3) * x.qs[e];
    }
    sumi += (w.scales[j] & 0xF) * s;
    summ += (w.scales[j] >> 4) * x.bsums[j];
  }
  return k_term(sumi, summ, w.d, w.dmin, x.d);
}

float q3_k_term(const BlockQ3_K& w, const BlockQ8_K& x) {
  int sumi = 0;
  for (int j = 0; j < 16; ++j) {
    int s = 0;
    for (int e = 16 * j; e < 16 * j + 16; ++e) {
      const int lo = (w.qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
      s += (lo - ((w.hmask[e % 32] >> (e / 32)) & 1 ? 0 : 4)) * x.qs[e];
    }
    sumi += quants::scale_q3(w.scales, j) * s;
  }
  return static_cast<float>(sumi) * (half_to_float(w.d) * x.d);
}

template <class Block, bool kFifthBit>
float q45_k_term(const Block& w, const BlockQ8_K& x) {
  int sumi = 0, summ = 0;
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    quants::scale_min_k4(w.scales, j, &sc, &m);
    int s = 0;
    for (int e = 32 * j; e < 32 * j + 32; ++e) {
      int q = (w.qs[32 * (e / 64) + e % 32] >> (4 * (j % 2))) & 0xF;
      if constexpr (kFifthBit) q |= ((w.qh[e % 32] >> j) & 1) << 4;
      s += q * x.qs[e];
    }
    sumi += sc * s;
    summ += m * (x.bsums[2 * j] + x.bsums[2 * j + 1]);
  }
  return k_term(sumi, summ, w.d, w.dmin, x.d);
}

float q6_k_term(const BlockQ6_K& w, const BlockQ8_K& x) {
  int sumi = 0;
  for (int j = 0; j < 16; ++j) {
    int s = 0;
    for (int e = 16 * j; e < 16 * j + 16; ++e) {
      const int ql = w.ql[64 * (e / 128) + 32 * (e % 128 / 32 % 2) + e % 32];
      const int lo = (ql >> (e % 128 / 64 * 4)) & 0xF;
      const int hi = (w.qh[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
      s += ((lo | hi << 4) - 32) * x.qs[e];
    }
    sumi += w.scales[j] * s;
  }
  return static_cast<float>(sumi) * (half_to_float(w.d) * x.d);
}

float q8_k_term(const BlockQ8_K& w, const BlockQ8_K& x) {
  int sumi = 0;
  for (int e = 0; e < kQK_K; ++e) sumi += w.qs[e] * x.qs[e];
  return static_cast<float>(sumi) * (w.d * x.d);
}

constexpr auto dot_q2_k = dot_k<BlockQ2_K, q2_k_term>;
constexpr auto dot_q3_k = dot_k<BlockQ3_K, q3_k_term>;
constexpr auto dot_q4_k = dot_k<BlockQ4_K, q45_k_term<BlockQ4_K, false>>;
constexpr auto dot_q5_k = dot_k<BlockQ5_K, q45_k_term<BlockQ5_K, true>>;
constexpr auto dot_q6_k = dot_k<BlockQ6_K, q6_k_term>;
constexpr auto dot_q8_k = dot_k<BlockQ8_K, q8_k_term>;

template <float (*kDot)(const uint8_t*, const uint8_t*, int64_t)>
void rows(const GemmArgs& a, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = a.w + r * a.w_stride;
    for (int64_t b = 0; b < a.n_batch; ++b) {
      const auto* xb = static_cast<const uint8_t*>(a.x) + b * a.x_stride;
      a.y[b * a.y_stride + r] = kDot(row, xb, a.n_cols);
    }
  }
}

void packed_k_rows(const GemmArgs& a, int64_t r0, int64_t r1) {
  const int64_t nb = a.n_cols / kQK_K;
  std::vector<uint8_t> row(row_bytes(a.wtype, a.n_cols));
  for (int64_t r = r0; r < r1; ++r) {
    unpack_k_row(a.wtype, a.w + (r / 8) * a.w_stride, static_cast<int>(r % 8), nb, row.data());
    for (int64_t b = 0; b < a.n_batch; ++b) {
      const auto* xb = static_cast<const uint8_t*>(a.x) + b * a.x_stride;
      a.y[b * a.y_stride + r] = a.wtype == DType::kQ4_K ? dot_q4_k(row.data(), xb, a.n_cols)
                                                        : dot_q6_k(row.data(), xb, a.n_cols);
    }
  }
}

}  // namespace

void gemm_packed_k_scalar(const GemmArgs& a, int64_t r0, int64_t r1) {
  if (a.claims == nullptr) return packed_k_rows(a, r0, r1);
  auto rows8 = [&](int64_t g) { packed_k_rows(a, 8 * g, 8 * g + 8); };
  for_each_claimed_group(a, rows8, rows8);
}

void gemm_ext_scalar(const GemmArgs& a, int64_t r0, int64_t r1) {
  switch (a.wtype) {
    case DType::kQ4_1:
      return rows<dot_q4_1>(a, r0, r1);
    case DType::kQ5_0:
      return rows<dot_q5_0>(a, r0, r1);
    case DType::kQ5_1:
      return rows<dot_q5_1>(a, r0, r1);
    case DType::kQ2_K:
      return rows<dot_q2_k>(a, r0, r1);
    case DType::kQ3_K:
      return rows<dot_q3_k>(a, r0, r1);
    case DType::kQ4_K:
      return rows<dot_q4_k>(a, r0, r1);
    case DType::kQ5_K:
      return rows<dot_q5_k>(a, r0, r1);
    case DType::kQ6_K:
      return rows<dot_q6_k>(a, r0, r1);
    case DType::kQ8_K:
      return rows<dot_q8_k>(a, r0, r1);
    default:
      return;
  }
}

}  // namespace ll::kernels::internal
