// Reference conversions between float and every block format (the to_float/from_float of
// type_traits). Portable scalar code, so quantized files are identical on every machine; they
// run when models are loaded or converted, never per token. n is a multiple of the block size.
#pragma once

#include <cstdint>

namespace ll::quants {

#define LL_QUANTS_DECLARE(name)                                \
  void name##_to_float(const void* in, float* out, int64_t n); \
  void name##_from_float(const float* in, void* out, int64_t n);

LL_QUANTS_DECLARE(f32)
LL_QUANTS_DECLARE(f16)
LL_QUANTS_DECLARE(bf16)
LL_QUANTS_DECLARE(q4_0)
LL_QUANTS_DECLARE(q8_0)
LL_QUANTS_DECLARE(q4_1)
LL_QUANTS_DECLARE(q5_0)
LL_QUANTS_DECLARE(q5_1)
LL_QUANTS_DECLARE(q2_k)
LL_QUANTS_DECLARE(q3_k)
LL_QUANTS_DECLARE(q4_k)
LL_QUANTS_DECLARE(q5_k)
LL_QUANTS_DECLARE(q6_k)
LL_QUANTS_DECLARE(q8_k)

#undef LL_QUANTS_DECLARE

// Q4_K/Q5_K: 8 six-bit scales ls and mins lm into their 12 packed bytes s.
void pack_scales_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* s);
// Sub-block j (0..7) of Q4_K/Q5_K: its 6-bit scale and min from the 12 packed bytes s.
void scale_min_k4(const uint8_t* s, int j, int* sc, int* m);
// Sub-block j (0..15) of Q3_K: its signed scale (-32..31) from the 12 packed bytes s.
int scale_q3(const uint8_t* s, int j);

}  // namespace ll::quants
