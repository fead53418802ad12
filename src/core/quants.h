// Reference conversions between float and every block format (the to_float/from_float of
// type_traits). Portable scalar code, so quantized files are identical on every machine; they
// run when models are loaded or converted, never per token. n is a multiple of the block size.
#pragma once

#include <cstdint>

namespace ll::quants {

#define LL_QUANTS_DECLARE(name)                           \
  void name##_to_float(const void* in, float* out, int64_t n); \
  void name##_from_float(const float* in, void* out, int64_t n);

LL_QUANTS_DECLARE(f32)
LL_QUANTS_DECLARE(f16)
LL_QUANTS_DECLARE(bf16)
LL_QUANTS_DECLARE(q4_0)
LL_QUANTS_DECLARE(q8_0)

#undef LL_QUANTS_DECLARE

}  // namespace ll::quants
