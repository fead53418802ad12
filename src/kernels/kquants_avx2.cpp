// AVX2 products for the types added with the K-quants (compiled with AVX2 + FMA + F16C, selected at
// run time). Each dot follows the canonical form of kquants_scalar.cpp: exact integer sums per
// super-block, then the same three float operations, so the results equal the scalar reference bit
// for bit. A weight super-block's quants are unpacked once and multiplied with up to kBatch
// activation rows (matmul), which is what makes prefill cheaper per token than decode.
#include <immintrin.h>

#include "kernels/kernels_internal.h"
#include "kernels/kquants_packed_avx2.h"

namespace ll::kernels::internal {
namespace {

constexpr int kBatch = 4;
// Software prefetch distance of the weight stream: decode reads every byte once.
constexpr size_t kAhead = 1536;

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

inline __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// sum over 32 elements of u (unsigned, < 128) * x, in pairs weighted by the int16 scales.
inline __m256i scaled_dot(__m256i u, const int8_t* x, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, load256(x)), scale16);
}

inline float k_term(int sumi, int summ, uint16_t d, uint16_t dmin, float dx) {
  return static_cast<float>(sumi) * (half_to_float(d) * dx) -
         static_cast<float>(summ) * (half_to_float(dmin) * dx);
}

// Q4_K and Q5_K: scales and mins from their 12 packed bytes.
inline void unpack_k4_scales(const uint8_t* s, uint8_t sc[8], uint8_t m[8]) {
  uint32_t u[3];
  std::memcpy(u, s, 12);
  const uint32_t lo6 = 0x3f3f3f3f, lo4 = 0x0f0f0f0f, hi2 = 0x03030303;
  const uint32_t s03 = u[0] & lo6, m03 = u[1] & lo6;
  const uint32_t s47 = (u[2] & lo4) | ((u[0] >> 6) & hi2) << 4;
  const uint32_t m47 = ((u[2] >> 4) & lo4) | ((u[1] >> 6) & hi2) << 4;
  std::memcpy(sc, &s03, 4);
  std::memcpy(sc + 4, &s47, 4);
  std::memcpy(m, &m03, 4);
  std::memcpy(m + 4, &m47, 4);
}

// sum_j m[j] * (bsums[2j] + bsums[2j + 1]) with madd.
inline int mins_dot(const uint8_t m[8], const int16_t* bsums) {
  __m128i m16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m)));
  __m256i mm = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
  return hsum_i32(_mm256_madd_epi16(load256(bsums), mm));
}

// Super-block i of each of the B activation rows (Q8_K).
template <int B>
inline void act_blocks(const uint8_t* const* xr, int64_t i, const BlockQ8_K* x[B]) {
  for (int b = 0; b < B; ++b) x[b] = reinterpret_cast<const BlockQ8_K*>(xr[b]) + i;
}

template <bool kFifthBit>
struct KQ45 {
  using Block = std::conditional_t<kFifthBit, BlockQ5_K, BlockQ4_K>;
  static constexpr int64_t kBlockElems = kQK_K;
  template <int B>
  static void block(const uint8_t* wp, const uint8_t* const* xr, int64_t i, int64_t, float* acc) {
    const auto* w = reinterpret_cast<const Block*>(wp);
    const BlockQ8_K* x[B];
    act_blocks<B>(xr, i, x);
    uint8_t sc[8], m[8];
    unpack_k4_scales(w->scales, sc, m);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256i sum[B] = {};
    __m256i qh;
    if constexpr (kFifthBit) qh = load256(w->qh);
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(w->qs + 32 * c);
      __m256i lo = _mm256_and_si256(q, low4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (kFifthBit) {
        const __m256i one = _mm256_set1_epi8(1);
        lo = _mm256_or_si256(
            lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
        hi = _mm256_or_si256(
            hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
      }
      const __m256i s_lo = _mm256_set1_epi16(sc[2 * c]), s_hi = _mm256_set1_epi16(sc[2 * c + 1]);
      for (int b = 0; b < B; ++b) {
        const int8_t* xq = x[b]->qs + 64 * c;
        sum[b] = _mm256_add_epi32(
            sum[b], _mm256_add_epi32(scaled_dot(lo, xq, s_lo), scaled_dot(hi, xq + 32, s_hi)));
      }
    }
    for (int b = 0; b < B; ++b) {
      const int summ = mins_dot(m, x[b]->bsums);
      acc[b] = acc[b] + k_term(hsum_i32(sum[b]), summ, w->d, w->dmin, x[b]->d);
    }
  }
};

struct KQ6 {
  using Block = BlockQ6_K;
  static constexpr int64_t kBlockElems = kQK_K;
  template <int B>
  static void block(const uint8_t* wp, const uint8_t* const* xr, int64_t i, int64_t, float* acc) {
    const auto* w = reinterpret_cast<const BlockQ6_K*>(wp);
    const BlockQ8_K* x[B];
    act_blocks<B>(xr, i, x);
    const __m256i low4 = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3);
    const __m256i scales16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w->scales)));
    __m256i sum[B] = {};
    for (int h = 0; h < 2; ++h) {
      const __m256i l0 = load256(w->ql + 64 * h), l1 = load256(w->ql + 64 * h + 32);
      const __m256i qh = load256(w->qh + 32 * h);
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4),
                             _mm256_slli_epi16(_mm256_and_si256(qh, two), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two), 4));
      for (int k = 0; k < 4; ++k) {
        const int v = 4 * h + k;  // elements 32v..32v+31: sub-blocks 2v, 2v + 1
        const __m256i s = _mm256_set_m128i(_mm_set1_epi16(w->scales[2 * v + 1]),
                                           _mm_set1_epi16(w->scales[2 * v]));
        for (int b = 0; b < B; ++b) {
          sum[b] = _mm256_add_epi32(sum[b], scaled_dot(q[k], x[b]->qs + 32 * v, s));
        }
      }
    }
    const float d = half_to_float(w->d);
    for (int b = 0; b < B; ++b) {
      // The quants were used unsigned (q + 32): remove 32 * sum_j sc_j * sum of x over j.
      const int offset = hsum_i32(_mm256_madd_epi16(load256(x[b]->bsums), scales16));
      const int sumi = hsum_i32(sum[b]) - 32 * offset;
      acc[b] = acc[b] + static_cast<float>(sumi) * (d * x[b]->d);
    }
  }
};

// The pair of sub-block scales of a 32-element vector: lanes 0..7 (elements 0..15) get lo,
// lanes 8..15 get hi.
inline __m256i scale_pair(int lo, int hi) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(hi)),
                          _mm_set1_epi16(static_cast<int16_t>(lo)));
}

// Q2_K and Q3_K share the 2-bit layout: vector v = 4h + j (elements 32v..) is bits 2j of
// qs[32h ..]. Q3_K adds bit v of hmask as bit 2 of an unsigned 0..7 and removes 4 * x after.
template <bool kQ3>
struct KQ23 {
  using Block = std::conditional_t<kQ3, BlockQ3_K, BlockQ2_K>;
  static constexpr int64_t kBlockElems = kQK_K;
  template <int B>
  static void block(const uint8_t* wp, const uint8_t* const* xr, int64_t i, int64_t, float* acc) {
    const auto* w = reinterpret_cast<const Block*>(wp);
    const BlockQ8_K* x[B];
    act_blocks<B>(xr, i, x);
    int8_t sc[16];
    uint8_t mins[16];
    if constexpr (kQ3) {
      for (int j = 0; j < 16; ++j) {
        const int lo = j < 8 ? w->scales[j] & 0xF : w->scales[j - 8] >> 4;
        const int hi = (w->scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = static_cast<int8_t>((lo | hi << 4) - 32);
      }
    } else {
      for (int j = 0; j < 16; ++j) {
        sc[j] = static_cast<int8_t>(w->scales[j] & 0xF);
        mins[j] = static_cast<uint8_t>(w->scales[j] >> 4);
      }
    }
    const __m256i three = _mm256_set1_epi8(3);
    __m256i sum[B] = {};
    __m256i hm;
    if constexpr (kQ3) hm = load256(w->hmask);
    for (int h = 0; h < 2; ++h) {
      const __m256i q = load256(w->qs + 32 * h);
      for (int j = 0; j < 4; ++j) {
        const int v = 4 * h + j;
        __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), three);
        if constexpr (kQ3) {
          const __m256i bit = _mm256_and_si256(_mm256_srli_epi16(hm, v), _mm256_set1_epi8(1));
          u = _mm256_or_si256(u, _mm256_slli_epi16(bit, 2));
        }
        const __m256i s = scale_pair(sc[2 * v], sc[2 * v + 1]);
        for (int b = 0; b < B; ++b) {
          sum[b] = _mm256_add_epi32(sum[b], scaled_dot(u, x[b]->qs + 32 * v, s));
        }
      }
    }
    const __m256i sc16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    for (int b = 0; b < B; ++b) {
      const __m256i bs = load256(x[b]->bsums);
      if constexpr (kQ3) {
        const int sumi = hsum_i32(sum[b]) - 4 * hsum_i32(_mm256_madd_epi16(bs, sc16));
        acc[b] = acc[b] + static_cast<float>(sumi) * (half_to_float(w->d) * x[b]->d);
      } else {
        const __m256i m16 =
            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(mins)));
        const int summ = hsum_i32(_mm256_madd_epi16(bs, m16));
        acc[b] = acc[b] + k_term(hsum_i32(sum[b]), summ, w->d, w->dmin, x[b]->d);
      }
    }
  }
};

struct KQ8 {
  using Block = BlockQ8_K;
  static constexpr int64_t kBlockElems = kQK_K;
  template <int B>
  static void block(const uint8_t* wp, const uint8_t* const* xr, int64_t i, int64_t, float* acc) {
    const auto* w = reinterpret_cast<const BlockQ8_K*>(wp);
    const BlockQ8_K* x[B];
    act_blocks<B>(xr, i, x);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i sum[B] = {};
    for (int v = 0; v < 8; ++v) {
      const __m256i q = load256(w->qs + 32 * v), aq = _mm256_abs_epi8(q);
      for (int b = 0; b < B; ++b) {
        const __m256i xs = _mm256_sign_epi8(load256(x[b]->qs + 32 * v), q);
        sum[b] = _mm256_add_epi32(sum[b], _mm256_madd_epi16(_mm256_maddubs_epi16(aq, xs), ones));
      }
    }
    for (int b = 0; b < B; ++b) {
      acc[b] = acc[b] + static_cast<float>(hsum_i32(sum[b])) * (w->d * x[b]->d);
    }
  }
};

// Q4_1, Q5_0, Q5_1 on ActRows: unsigned quants (low nibbles are elements 0..15, high ones
// 16..31, one 128-bit lane each) times x, then the offset through the activation sums.
inline __m256i nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

// Bit j of the 32-bit qh as 0x10 in byte j.
inline __m256i fifth_bits(const uint8_t* qh) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(h)),
      _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit),
                          _mm256_set1_epi8(0x10));
}

template <DType kType>
struct KLegacy {
  using Block = std::conditional_t<kType == DType::kQ4_1, BlockQ4_1,
                                   std::conditional_t<kType == DType::kQ5_0, BlockQ5_0, BlockQ5_1>>;
  static constexpr int64_t kBlockElems = kQK4_0;
  template <int B>
  static void block(const uint8_t* wp, const uint8_t* const* xr, int64_t i, int64_t nb,
                    float* acc) {
    const auto* w = reinterpret_cast<const Block*>(wp);
    __m256i u = nibbles(w->qs);
    if constexpr (kType != DType::kQ4_1) u = _mm256_or_si256(u, fifth_bits(w->qh));
    const float d = half_to_float(w->d);
    for (int b = 0; b < B; ++b) {
      const ActRow x = ActRow::at(xr[b], nb);
      int sumi = hsum_i32(scaled_dot(u, x.qs + i * kQK4_0, _mm256_set1_epi16(1)));
      const float dx = x.d[i];
      if constexpr (kType == DType::kQ5_0) {
        sumi += x.bsums[i];  // act_sum_scale 16: bsums = -16 * sum(x)
        acc[b] = acc[b] + static_cast<float>(sumi) * (d * dx);
      } else {
        acc[b] = acc[b] + (static_cast<float>(sumi) * (d * dx) +
                           static_cast<float>(x.bsums[i]) * (half_to_float(w->m) * dx));
      }
    }
  }
};

template <class K, int B>
void row_tile(const GemmArgs& a, int64_t r, int64_t b0) {
  const uint8_t* w = a.w + r * a.w_stride;
  const int64_t nb = a.n_cols / K::kBlockElems;
  const auto* xbase = static_cast<const uint8_t*>(a.x);
  const uint8_t* x[B];
  for (int b = 0; b < B; ++b) x[b] = xbase + (b0 + b) * a.x_stride;
  float acc[B] = {};
  constexpr size_t kBytes = sizeof(typename K::Block);
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* p = w + i * kBytes;
    if constexpr (B == 1) {
      // One request per cache line the block ends in, kAhead bytes ahead.
      const size_t line_end = (reinterpret_cast<uintptr_t>(p) + kBytes) / 64;
      for (size_t l = reinterpret_cast<uintptr_t>(p) / 64; l < line_end; ++l) {
        _mm_prefetch(reinterpret_cast<const char*>(l * 64 + 64 + kAhead), _MM_HINT_T0);
      }
    }
    K::template block<B>(p, x, i, nb, acc);
  }
  for (int b = 0; b < B; ++b) a.y[(b0 + b) * a.y_stride + r] = acc[b];
}

template <class K>
void rows(const GemmArgs& a, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    int64_t b = 0;
    for (; b + kBatch <= a.n_batch; b += kBatch) row_tile<K, kBatch>(a, r, b);
    switch (a.n_batch - b) {
      case 3:
        row_tile<K, 3>(a, r, b);
        break;
      case 2:
        row_tile<K, 2>(a, r, b);
        break;
      case 1:
        row_tile<K, 1>(a, r, b);
        break;
      default:
        break;
    }
  }
}

struct MaddDotK {
  static __m256i dp(__m256i acc, __m256i u, __m256i x) {
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)));
  }
};

}  // namespace

void gemm_packed_k_avx2(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_packed_k<MaddDotK>(a, r0, r1);
}

void gemm_ext_avx2(const GemmArgs& a, int64_t r0, int64_t r1) {
  switch (a.wtype) {
    case DType::kQ4_K:
      return rows<KQ45<false>>(a, r0, r1);
    case DType::kQ5_K:
      return rows<KQ45<true>>(a, r0, r1);
    case DType::kQ6_K:
      return rows<KQ6>(a, r0, r1);
    case DType::kQ2_K:
      return rows<KQ23<false>>(a, r0, r1);
    case DType::kQ3_K:
      return rows<KQ23<true>>(a, r0, r1);
    case DType::kQ8_K:
      return rows<KQ8>(a, r0, r1);
    case DType::kQ4_1:
      return rows<KLegacy<DType::kQ4_1>>(a, r0, r1);
    case DType::kQ5_0:
      return rows<KLegacy<DType::kQ5_0>>(a, r0, r1);
    case DType::kQ5_1:
      return rows<KLegacy<DType::kQ5_1>>(a, r0, r1);
    default:
      return gemm_ext_scalar(a, r0, r1);
  }
}

}  // namespace ll::kernels::internal
