#include "core/types.h"

#include "core/quants.h"

#include <cctype>
#include <cmath>
#include <string>

namespace ll {

namespace {

// Sorted by GGUF id. Activation formats: see TypeTraits::vec_dot_type.
constexpr TypeTraits kTypes[] = {
    {DType::kF32, "F32", 1, 4, DType::kF32, quants::f32_to_float, quants::f32_from_float},
    {DType::kF16, "F16", 1, 2, DType::kF32, quants::f16_to_float, quants::f16_from_float},
    {DType::kQ4_0, "Q4_0", kQK4_0, sizeof(BlockQ4_0), DType::kQ8_0, quants::q4_0_to_float,
     quants::q4_0_from_float},
    {DType::kQ4_1, "Q4_1", kQK4_0, sizeof(BlockQ4_1), DType::kQ8_0, quants::q4_1_to_float,
     quants::q4_1_from_float},
    {DType::kQ5_0, "Q5_0", kQK4_0, sizeof(BlockQ5_0), DType::kQ8_0, quants::q5_0_to_float,
     quants::q5_0_from_float},
    {DType::kQ5_1, "Q5_1", kQK4_0, sizeof(BlockQ5_1), DType::kQ8_0, quants::q5_1_to_float,
     quants::q5_1_from_float},
    {DType::kQ8_0, "Q8_0", kQK8_0, sizeof(BlockQ8_0), DType::kQ8_0, quants::q8_0_to_float,
     quants::q8_0_from_float},
    {DType::kQ2_K, "Q2_K", kQK_K, sizeof(BlockQ2_K), DType::kQ8_K, quants::q2_k_to_float,
     quants::q2_k_from_float},
    {DType::kQ3_K, "Q3_K", kQK_K, sizeof(BlockQ3_K), DType::kQ8_K, quants::q3_k_to_float,
     quants::q3_k_from_float},
    {DType::kQ4_K, "Q4_K", kQK_K, sizeof(BlockQ4_K), DType::kQ8_K, quants::q4_k_to_float,
     quants::q4_k_from_float},
    {DType::kQ5_K, "Q5_K", kQK_K, sizeof(BlockQ5_K), DType::kQ8_K, quants::q5_k_to_float,
     quants::q5_k_from_float},
    {DType::kQ6_K, "Q6_K", kQK_K, sizeof(BlockQ6_K), DType::kQ8_K, quants::q6_k_to_float,
     quants::q6_k_from_float},
    {DType::kQ8_K, "Q8_K", kQK_K, sizeof(BlockQ8_K), DType::kQ8_K, quants::q8_k_to_float,
     quants::q8_k_from_float},
    {DType::kBF16, "BF16", 1, 2, DType::kF32, quants::bf16_to_float, quants::bf16_from_float},
};

std::string make_type_names() {
  std::string s;
  for (const TypeTraits& t : kTypes) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

}  // namespace

const TypeTraits* type_traits(uint32_t id) {
  for (const TypeTraits& t : kTypes) {
    if (static_cast<uint32_t>(t.type) == id) return &t;
  }
  return nullptr;
}

const TypeTraits& type_traits(DType t) {
  return *type_traits(static_cast<uint32_t>(t));
}

std::span<const TypeTraits> all_types() {
  return kTypes;
}

std::optional<DTypeInfo> dtype_info(uint32_t id) {
  const TypeTraits* t = type_traits(id);
  if (!t) return std::nullopt;
  return *t;
}

DTypeInfo dtype_info(DType t) {
  return type_traits(t);
}
std::string_view dtype_name(DType t) {
  return type_traits(t).name;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  std::string up;
  for (char c : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const TypeTraits& t : kTypes) {
    if (t.name == up) return t.type;
  }
  return std::nullopt;
}

std::string_view supported_type_names() {
  static const std::string names = make_type_names();
  return names;
}

size_t row_bytes(DType t, int64_t n) {
  DTypeInfo info = dtype_info(t);
  if (n < 0 || n % info.block_size != 0) return 0;
  return static_cast<size_t>(n / info.block_size) * info.bytes_per_block;
}

float fp16_to_fp32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      mant &= 0x3ff;
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | mant << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t abs = x & 0x7fffffff;
  if (abs > 0x7f800000) return static_cast<uint16_t>(sign | 0x7e00);   // NaN
  if (abs >= 0x477ff000) return static_cast<uint16_t>(sign | 0x7c00);  // overflow -> inf
  if (abs < 0x38800000) {  // result is subnormal or zero
    // Half subnormals count units of 2^-24; drop (126 - exponent) mantissa bits, rounding to even.
    uint32_t mant = (abs & 0x7fffff) | 0x800000;
    int shift = 126 - static_cast<int>(abs >> 23);
    if (shift > 24) return static_cast<uint16_t>(sign);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t e = (abs >> 23) - 127 + 15;
  uint32_t mant = abs & 0x7fffff;
  uint32_t half = e << 10 | mant >> 13;
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;  // may carry into exponent: fine
  return static_cast<uint16_t>(sign | half);
}

uint16_t fp32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 0x40);
  uint32_t rounding = 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

}  // namespace ll
