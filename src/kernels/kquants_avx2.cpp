// AVX2 products for the K-quants (compiled with AVX2 + FMA + F16C, selected at run time). Each
// dot follows the canonical form of kquants_scalar.cpp: exact integer sums per super-block,
// then the same three float operations, so the results equal the scalar reference bit for bit.
// A weight super-block's quants are unpacked once and multiplied with up to kBatch activation
// rows (matmul), which is what makes prefill cheaper per token than decode.
#include <immintrin.h>

#include "kernels/kernels_internal.h"

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

template <bool kFifthBit>
struct KQ45 {
  using Block = std::conditional_t<kFifthBit, BlockQ5_K, BlockQ4_K>;
  template <int B>
  static void block(const uint8_t* wp, const BlockQ8_K* const* x, float* acc) {
    const auto* w = reinterpret_cast<const Block*>(wp);
    uint8_t sc[8], m[8];
    unpack_k4_scales(w->scales, sc, m);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256i sum[B];
    for (int b = 0; b < B; ++b) sum[b] = _mm256_setzero_si256();
    __m256i qh;
    if constexpr (kFifthBit) qh = load256(w->qh);
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(w->qs + 32 * c);
      __m256i lo = _mm256_and_si256(q, low4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (kFifthBit) {
        const __m256i one = _mm256_set1_epi8(1);
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
        hi = _mm256_or_si256(hi,
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
      }
      const __m256i s_lo = _mm256_set1_epi16(sc[2 * c]), s_hi = _mm256_set1_epi16(sc[2 * c + 1]);
      for (int b = 0; b < B; ++b) {
        const int8_t* xq = x[b]->qs + 64 * c;
        sum[b] = _mm256_add_epi32(sum[b], _mm256_add_epi32(scaled_dot(lo, xq, s_lo),
                                                           scaled_dot(hi, xq + 32, s_hi)));
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
  template <int B>
  static void block(const uint8_t* wp, const BlockQ8_K* const* x, float* acc) {
    const auto* w = reinterpret_cast<const BlockQ6_K*>(wp);
    const __m256i low4 = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3);
    const __m256i scales16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w->scales)));
    __m256i sum[B];
    for (int b = 0; b < B; ++b) sum[b] = _mm256_setzero_si256();
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

template <class K, int B>
void row_tile(const GemmArgs& a, int64_t r, int64_t b0) {
  const uint8_t* w = a.w + r * a.w_stride;
  const int64_t nb = a.n_cols / kQK_K;
  const auto* xbase = static_cast<const uint8_t*>(a.x);
  const BlockQ8_K* x[B];
  for (int b = 0; b < B; ++b) x[b] = reinterpret_cast<const BlockQ8_K*>(xbase + (b0 + b) * a.x_stride);
  float acc[B] = {};
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* p = w + i * sizeof(typename K::Block);
    if constexpr (B == 1) {
      for (size_t off = 0; off < sizeof(typename K::Block); off += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(p + kAhead + off), _MM_HINT_T0);
      }
    }
    K::template block<B>(p, x, acc);
    for (int b = 0; b < B; ++b) ++x[b];
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

}  // namespace

void gemm_ext_avx2(const GemmArgs& a, int64_t r0, int64_t r1) {
  switch (a.wtype) {
    case DType::kQ4_K:
      return rows<KQ45<false>>(a, r0, r1);
    case DType::kQ5_K:
      return rows<KQ45<true>>(a, r0, r1);
    case DType::kQ6_K:
      return rows<KQ6>(a, r0, r1);
    default:
      return gemm_ext_scalar(a, r0, r1);
  }
}

}  // namespace ll::kernels::internal
