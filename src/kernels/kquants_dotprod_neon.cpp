// Packed Q4_K/Q6_K products with SDOT (ARMv8.2 dot product), selected at run time; same bits as
// the baseline path. The target switch is in dotprod_target_neon.h.
#if defined(__aarch64__)

#include "kernels/dotprod_target_neon.h"
// Only after the switch:
#include "kernels/kquants_packed_neon.h"

namespace ll::kernels::internal {
namespace {

struct SdotDotK {
  static int32x4_t dp(int32x4_t acc, int8x16_t w, int32_t x4) {
    return vdotq_s32(acc, w, vreinterpretq_s8_s32(vdupq_n_s32(x4)));
  }
};

}  // namespace

void gemm_packed_k_neon_dotprod(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_packed_k_neon_impl<SdotDotK>(a, r0, r1);
}

}  // namespace ll::kernels::internal

#endif  // __aarch64__
