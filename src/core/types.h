// Tensor element types, with GGUF's numeric ids and block layouts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace ll {

// Values are GGUF's ggml_type ids; only the ones we execute are named.
enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kBF16 = 30,
};

constexpr int kQK8_0 = 32;  // elements per Q8_0 block
constexpr int kQK4_0 = 32;  // elements per Q4_0 block

// Q8_0: one fp16 scale and 32 signed bytes; value = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;  // fp16 bits
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q4_0: one fp16 scale and 32 nibbles; element i (< 16) is the low nibble of qs[i],
// element i + 16 is the high nibble; value = d * (nibble - 8).
struct BlockQ4_0 {
  uint16_t d;  // fp16 bits
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

struct DTypeInfo {
  std::string_view name;
  int block_size;  // elements per block
  int bytes_per_block;
};

// nullopt for ids we do not execute (other quant types, unknown ids).
std::optional<DTypeInfo> dtype_info(uint32_t id);
DTypeInfo dtype_info(DType t);
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);  // "F32", "q8_0", ...

// Bytes of a row of n elements, or 0 if n is not a multiple of the block size.
size_t row_bytes(DType t, int64_t n);

// IEEE half <-> float, exact round-to-nearest-even; portable scalar versions.
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);

inline float bf16_to_fp32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint16_t fp32_to_bf16(float f);

}  // namespace ll
