// Quantized-weight gemm using VPDPBUSD from AVX512-VNNI with 256-bit vectors (Ice Lake, Zen 4),
// selected at run time when the CPU has it. The integer lanes equal the maddubs/madd path's
// exactly, so results are bit-identical to it; VPDPBUSD just needs one instruction where AVX2 needs
// two or three on ports 0/1. The extension is enabled for this file only, by pragma, so the build
// needs no extra flags.
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512vnni,avx512vl"))), apply_to = function)
#else
#pragma GCC target("avx512vnni,avx512vl")
#endif

#include "kernels/gemm_avx2.h"
#include "kernels/packed_avx2.h"

namespace ll::kernels::internal {
namespace {

struct VnniDot {
  // Q8_0 weights as unsigned bytes w + 128 (sign bit flipped); the negsums cancel 128 * x.
  using Q8 = __m256i;
  static Q8 prep_q8(__m256i w) { return _mm256_xor_si256(w, _mm256_set1_epi8(-128)); }
  static __m256i q8(const Q8& wu, const int8_t* x, const int32_t* negsum) {
    return dot(wu, x, negsum);
  }
  static __m256i q4(__m256i u, const int8_t* x, const int32_t* negsum) { return dot(u, x, negsum); }
  static __m256i dot(__m256i u, const int8_t* x, const int32_t* negsum) {
    __m256i init = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(negsum));
    return _mm256_dpbusd_epi32(init, u, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
  }
  // Packed layout (packed_avx2.h): Q8_0 quants are stored as w + 128.
  static constexpr bool kQ8Offset = true;
  static constexpr bool kWideProducts = true;
  static __m256i dp_u4(__m256i acc, __m256i u, __m256i x) { return _mm256_dpbusd_epi32(acc, u, x); }
  static __m256i dp_q8(__m256i acc, __m256i v, __m256i x) { return _mm256_dpbusd_epi32(acc, v, x); }
};

}  // namespace

void gemm_quant_avx512vnni(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_quant<VnniDot>(a, r0, r1);
}

void gemm_packed_avx512vnni(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_packed_quant<VnniDot>(a, r0, r1);
}

}  // namespace ll::kernels::internal

#if defined(__clang__)
#pragma clang attribute pop
#endif
