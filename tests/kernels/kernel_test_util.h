// Shared helpers for the kernel tests: random data, weight rows, and the list of Isas to test.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/types.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

namespace ll::kernels::testing {

inline std::vector<float> random_floats(std::mt19937& rng, int64_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& f : v) f = dist(rng);
  return v;
}

// A weight matrix stored in wtype, plus its exact float values (dequantized).
struct Weights {
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // [n_rows][n_cols]
  size_t stride = 0;
};

inline Weights make_weights(std::mt19937& rng, DType t, int64_t n_rows, int64_t n_cols) {
  Weights w;
  w.stride = row_bytes(t, n_cols);
  w.bytes.resize(w.stride * n_rows);
  w.values.resize(n_rows * n_cols);
  std::vector<float> src = random_floats(rng, n_rows * n_cols, 0.5f);
  for (int64_t r = 0; r < n_rows; ++r) {
    quantize_row(t, src.data() + r * n_cols, w.bytes.data() + r * w.stride, n_cols);
    dequantize_row(t, w.bytes.data() + r * w.stride, w.values.data() + r * n_cols, n_cols);
  }
  return w;
}

inline std::vector<Isa> test_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kNeon}) {
    if (isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

// Every kernel table this CPU can run, each SIMD Isa in each of its variants: AVX2 with and
// without VNNI, NEON with and without SDOT (a variant the CPU lacks is left out).
inline std::vector<const internal::KernelTable*> kernel_tables() {
  std::vector<const internal::KernelTable*> tables{&internal::scalar_table()};
#if defined(__x86_64__)
  if (isa_supported(Isa::kAvx2)) {
    tables.push_back(&internal::avx2_table(false));
    if (internal::avx2_vnni_packed_gemm() != nullptr) tables.push_back(&internal::avx2_table(true));
  }
#endif
#if defined(__aarch64__)
  tables.push_back(&internal::neon_table(false));
  if (internal::neon_has_dotprod()) tables.push_back(&internal::neon_table(true));
#endif
  return tables;
}

// kernel_tables(), plus a copy of the AVX2 table for every other packed gemm the CPU can run
// (AVX-VNNI, AVX512-VNNI with 256- and 512-bit vectors): the dispatch picks one of them, the
// tests must cover all.
inline std::vector<const internal::KernelTable*> packed_kernel_tables() {
  std::vector<const internal::KernelTable*> tables = kernel_tables();
#if defined(__x86_64__)
  if (isa_supported(Isa::kAvx2)) {
    static const std::vector<internal::KernelTable> extra = [] {
      std::vector<internal::KernelTable> v;
      for (auto [name, fn] : internal::packed_gemm_variants()) {
        if (fn == internal::avx2_table(false).gemm_packed) continue;
        if (fn == internal::avx2_table(true).gemm_packed) continue;
        v.push_back(internal::avx2_table(true));
        v.back().gemm_packed = fn;
      }
      return v;
    }();
    for (const internal::KernelTable& kt : extra) tables.push_back(&kt);
  }
#endif
  return tables;
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

constexpr DType kAllTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0};

}  // namespace ll::kernels::testing
