// Weight-format conversion: the reference conversions of type_traits (core/quants.cpp).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

namespace ll::kernels {
namespace {

void check_blocks(const TypeTraits& t, int64_t n) {
  if (n % t.block_size != 0) {
    std::fprintf(stderr, "fatal: kernels: %s row length %lld is not a multiple of %d\n",
                 std::string(t.name).c_str(), static_cast<long long>(n), t.block_size);
    std::abort();
  }
}

}  // namespace

void quantize_row(DType t, const float* x, void* out, int64_t n) {
  const TypeTraits& tt = type_traits(t);
  check_blocks(tt, n);
  tt.from_float(x, out, n);
}

void dequantize_row(DType t, const void* in, float* y, int64_t n) {
  const TypeTraits& tt = type_traits(t);
  check_blocks(tt, n);
  tt.to_float(in, y, n);
}

}  // namespace ll::kernels
