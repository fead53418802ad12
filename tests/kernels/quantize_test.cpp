// Weight formats: half/bfloat conversions, Q8_0/Q4_0 quantizers (ggml semantics and layout)
// and round-trip error bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

namespace ll::kernels {
namespace {

TEST(HalfTest, KnownValues) {
  struct Case {
    float f;
    uint16_t h;
  };
  const Case cases[] = {
      {0.0f, 0x0000},       {-0.0f, 0x8000},    {1.0f, 0x3C00},      {-2.0f, 0xC000},
      {0.5f, 0x3800},       {65504.0f, 0x7BFF}, {0x1p-14f, 0x0400},  {0x1p-24f, 0x0001},
      {0x3FFp-24f, 0x03FF}, {INFINITY, 0x7C00}, {-INFINITY, 0xFC00}, {0.333251953125f, 0x3555},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(fp32_to_fp16(c.f), c.h) << c.f;
    EXPECT_EQ(internal::half_to_float(c.h), c.f) << std::hex << c.h;
  }
  // Rounding: 0.1 -> 0x2E66 (nearest), halfway 1 + 2^-11 -> 1.0 (even), 65520 overflows.
  EXPECT_EQ(fp32_to_fp16(0.1f), 0x2E66);
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3C00);
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x3p-11f), 0x3C02);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);
  EXPECT_TRUE(std::isnan(internal::half_to_float(0x7E00)));
}

TEST(HalfTest, FastConversionMatchesCoreForAllHalves) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float a = internal::half_to_float(static_cast<uint16_t>(h));
    float b = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(b)) {
      ASSERT_TRUE(std::isnan(a)) << std::hex << h;
      continue;
    }
    uint32_t ua, ub;
    std::memcpy(&ua, &a, 4);
    std::memcpy(&ub, &b, 4);
    ASSERT_EQ(ua, ub) << std::hex << h;
    // Every finite half survives a round trip.
    ASSERT_EQ(fp32_to_fp16(a), h) << std::hex << h;
  }
}

TEST(QuantizeTest, Q8_0MatchesGgmlSemantics) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = (j - 10) * 0.25f;  // amax = 5.25 at j = 31
  BlockQ8_0 b;
  quantize_row(DType::kQ8_0, x.data(), &b, 32);
  float d = 5.25f / 127.0f;
  EXPECT_EQ(b.d, fp32_to_fp16(d));
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b.qs[j], static_cast<int>(std::round(x[j] * (1.0f / d))));
  EXPECT_EQ(b.qs[31], 127);
  EXPECT_EQ(b.qs[10], 0);
}

TEST(QuantizeTest, Q4_0MatchesGgmlSemanticsAndNibbleOrder) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);  // max = -16 -> d = 2
  BlockQ4_0 b;
  quantize_row(DType::kQ4_0, x.data(), &b, 32);
  EXPECT_EQ(fp16_to_fp32(b.d), 2.0f);
  for (int j = 0; j < 16; ++j) {
    int lo = b.qs[j] & 0x0F, hi = b.qs[j] >> 4;
    EXPECT_EQ(lo, std::min(15, static_cast<int>(x[j] * 0.5f + 8.5f))) << j;
    EXPECT_EQ(hi, std::min(15, static_cast<int>(x[j + 16] * 0.5f + 8.5f))) << j;
  }
  EXPECT_EQ(b.qs[0] & 0x0F, 0);  // the extreme maps to -8
  EXPECT_EQ(b.qs[15] >> 4, 15);  // 15 / 2 + 8.5 = 16 clamps to 15

  // Dequantization order: element j < 16 is the low nibble of qs[j], j + 16 the high one.
  BlockQ4_0 m;
  m.d = fp32_to_fp16(1.0f);
  for (int j = 0; j < 16; ++j) m.qs[j] = static_cast<uint8_t>(j | (15 - j) << 4);
  std::vector<float> y(32);
  dequantize_row(DType::kQ4_0, &m, y.data(), 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], j - 8.0f);
    EXPECT_EQ(y[j + 16], 7.0f - j);
  }
}

// |x - deq(q(x))| is at most half a step (a full step where Q4_0 clamps at +7), plus the
// error of storing the scale as fp16 (relative 2^-11, times |q| <= 128).
TEST(QuantizeTest, RoundTripErrorBounds) {
  std::mt19937 rng(11);
  const int64_t n = 32 * 64;
  std::vector<float> x = testing::random_floats(rng, n, 2.0f);
  for (int j = 0; j < 32; ++j) x[32 + j] = 0.0f;  // zero block must stay exact
  std::vector<float> y(n);
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    std::vector<uint8_t> q(row_bytes(t, n));
    quantize_row(t, x.data(), q.data(), n);
    dequantize_row(t, q.data(), y.data(), n);
    for (int64_t i = 0; i < n / 32; ++i) {
      double amax = 0.0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(double{x[i * 32 + j]}));
      double step = t == DType::kQ8_0 ? amax / 127.0 : amax / 8.0;
      double levels = t == DType::kQ8_0 ? 127.0 : 8.0;
      double tol = (t == DType::kQ8_0 ? 0.5 : 1.0) * step + levels * step * 0x1p-11 + 1e-6 * amax;
      for (int j = 0; j < 32; ++j) {
        ASSERT_NEAR(y[i * 32 + j], x[i * 32 + j], tol) << dtype_name(t) << " block " << i;
      }
    }
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[32 + j], 0.0f);
  }
}

TEST(QuantizeTest, FloatFormatsRoundTrip) {
  std::mt19937 rng(12);
  const int64_t n = 77;
  std::vector<float> x = testing::random_floats(rng, n, 10.0f), y(n);
  std::vector<uint8_t> buf(row_bytes(DType::kF32, n));
  quantize_row(DType::kF32, x.data(), buf.data(), n);
  dequantize_row(DType::kF32, buf.data(), y.data(), n);
  EXPECT_TRUE(testing::same_bits(x, y));
  for (DType t : {DType::kF16, DType::kBF16}) {
    quantize_row(t, x.data(), buf.data(), n);
    dequantize_row(t, buf.data(), y.data(), n);
    double rel = t == DType::kF16 ? 0x1p-11 : 0x1p-8;
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], x[i], rel * std::fabs(x[i])) << i;
  }
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16_to_fp32(0xC040), -3.0f);
}

}  // namespace
}  // namespace ll::kernels
