// Packed Q4_K/Q6_K products for baseline ARMv8-A NEON (Cortex-A53/A72): 4-byte dots by SMULL and
// pairwise widening adds. See kquants_packed_neon.h.
#if defined(__aarch64__)

#include "kernels/kquants_packed_neon.h"

namespace ll::kernels::internal {
namespace {

struct BaseDotK {
  static int32x4_t dp(int32x4_t acc, int8x16_t w, int32_t x4) {
    const int8x8_t x = vreinterpret_s8_s32(vdup_n_s32(x4));
    const int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(w), x));
    const int32x4_t hi = vpaddlq_s16(vmull_s8(vget_high_s8(w), x));
    return vaddq_s32(acc, vpaddq_s32(lo, hi));
  }
};

}  // namespace

void gemm_packed_k_neon(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_packed_k_neon_impl<BaseDotK>(a, r0, r1);
}

}  // namespace ll::kernels::internal

#endif  // __aarch64__
