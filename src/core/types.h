// Tensor element types, with GGUF's numeric ids and block layouts, and the one table of their
// traits (type_traits): adding a type is a row there plus its kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

namespace ll {

// Values are GGUF's ggml_type ids; only the ones we execute are named.
enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};

constexpr int kQK8_0 = 32;  // elements per Q8_0 block
constexpr int kQK4_0 = 32;  // elements per Q4_0 block (and Q4_1, Q5_0, Q5_1)
constexpr int kQK_K = 256;  // elements per K-quant super-block

// Block layouts, byte for byte as in GGUF files. fp16 values are stored as their bits.

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

// Q4_1: nibbles as Q4_0; value = d * nibble + m.
struct BlockQ4_1 {
  uint16_t d, m;  // fp16 bits
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

// Q5_0: low 4 bits as Q4_0, bit 4 of element i is bit i of qh (little-endian 32 bits);
// value = d * (q - 16).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

// Q5_1: bits as Q5_0; value = d * q + m.
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

// K-quants: 256 elements per super-block, split into sub-blocks of 16 or 32 elements with
// their own quantized scales (and mins). Element order within the super-block is given by
// the dequantizers in core/quants.cpp and docs/quantization.md.

// Q2_K: 16 sub-blocks of 16; scales[j] = scale (low nibble) | min (high nibble);
// value = d * sc * q - dmin * m, q 2 bits.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d, dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

// Q3_K: 16 sub-blocks of 16 with 6-bit scales (stored + 32) packed in 12 bytes; q is 2 low
// bits from qs and a high bit from hmask, value = d * (sc - 32) * (q - 4 if the hmask bit is
// clear, else q).
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

// Q4_K: 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes;
// value = d * sc * q - dmin * m, q 4 bits.
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// Q5_K: Q4_K plus a fifth bit per element in qh.
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

// Q6_K: 16 sub-blocks of 16 with int8 scales; q = 4 low bits (ql) | 2 high bits (qh) << 4;
// value = d * sc * (q - 32).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Q8_K: the activation format of K-quant dot products. A float scale, 256 signed bytes and the
// sums of each 16 of them; value = d * qs[i].
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

// Everything the code base needs to know about a type; one row per type in types.cpp.
struct TypeTraits {
  DType type;
  std::string_view name;
  int block_size;  // elements per block
  int bytes_per_block;
  // The activation format a dot product with weights of this type runs on: kF32 (float
  // activations) for float weights, kQ8_0 (32-element blocks) or kQ8_K (256-element blocks).
  DType vec_dot_type;
  // Reference conversions of n elements (n a multiple of block_size), portable scalar code:
  // quantized files are identical on every machine.
  void (*to_float)(const void* in, float* out, int64_t n);
  void (*from_float)(const float* in, void* out, int64_t n);

  bool quantized() const { return block_size > 1; }
};
using DTypeInfo = TypeTraits;

// nullptr for ids we do not execute (other quant types, unknown ids).
const TypeTraits* type_traits(uint32_t id);
const TypeTraits& type_traits(DType t);
// Every supported type, in GGUF id order.
std::span<const TypeTraits> all_types();

// nullopt for ids we do not execute (other quant types, unknown ids).
std::optional<DTypeInfo> dtype_info(uint32_t id);
DTypeInfo dtype_info(DType t);
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);  // "F32", "q8_0", ...
// "F32, F16, Q4_0, ..." for error messages.
std::string_view supported_type_names();

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
