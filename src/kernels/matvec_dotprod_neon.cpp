// Quantized-weight gemm with SDOT from the ARMv8.2 dot-product extension (FEAT_DotProd), selected
// at run time when the CPU has it (matvec_neon.cpp). One SDOT adds four 4-byte dot products into
// four int32 lanes, where the baseline path needs two multiplies and a widening add per 8 bytes;
// its by-element form multiplies all four rows of a packed half by the same 4 activation bytes,
// exactly the packed layout's broadcast. Integer sums are exact, so the bits equal the baseline
// path's (and the scalar reference's); the tests compare them.
//
// The target switch (and why it is a pragma after the baseline includes) is in
// dotprod_target_neon.h.
#if defined(__aarch64__)

#include "kernels/dotprod_target_neon.h"
// Only after the switch:
#include "kernels/gemm_neon.h"

namespace ll::kernels::internal {
namespace {

struct SdotDot {
  static constexpr int kPackedBatch = 4;

  static int32x4_t dot32(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1);
  }

  // Packed: lane r is row r's partial block sum; C chains hide SDOT's latency when a tile has
  // few dots (they are summed, exactly, at the end of the block).
  template <int C>
  struct Sum {
    int32x4_t s[C];
  };
  template <int C>
  static void clear(Sum<C>& s) {
    for (int c = 0; c < C; ++c) s.s[c] = vdupq_n_s32(0);
  }
  template <int V, int C>
  static void q8(Sum<C>& s, int8x16_t w, int8x16_t x) {
    s.s[V % C] = vdotq_laneq_s32(s.s[V % C], w, x, V % 4);
  }
  template <int V, int C>
  static void q4(Sum<C>& s, int8x16_t lo, int8x16_t hi, int8x16_t x0, int8x16_t x1) {
    s.s[2 * V % C] = vdotq_laneq_s32(s.s[2 * V % C], lo, x0, V);
    s.s[(2 * V + 1) % C] = vdotq_laneq_s32(s.s[(2 * V + 1) % C], hi, x1, V);
  }
  template <int C>
  static int32x4_t finish(const Sum<C>& s) {
    int32x4_t t = s.s[0];
    for (int c = 1; c < C; ++c) t = vaddq_s32(t, s.s[c]);
    return t;
  }
};

}  // namespace

void gemm_quant_neon_dotprod(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_quant<SdotDot>(a, r0, r1);
}

void gemm_packed_neon_dotprod(const GemmArgs& a, int64_t r0, int64_t r1) {
  gemm_packed_quant<SdotDot>(a, r0, r1);
}

}  // namespace ll::kernels::internal

#endif  // __aarch64__
