// Packed Q4_K/Q6_K products with VPDPBUSD from AVX-VNNI (same bits as the maddubs path: the
// integer sums are exact either way). Enabled for this file by pragma.
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avxvnni"))), apply_to = function)
#else
#pragma GCC target("avxvnni")
#endif

#include "kernels/kquants_packed_avx2.h"

namespace ll::kernels::internal {
namespace {

struct VnniDotK {
  static __m256i dp(__m256i acc, __m256i u, __m256i x) {
    return _mm256_dpbusd_avx_epi32(acc, u, x);
  }
};

}  // namespace

void gemm_packed_k_avxvnni(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_packed_k<VnniDotK>(a, r0, r1);
}

}  // namespace ll::kernels::internal

#if defined(__clang__)
#pragma clang attribute pop
#endif
