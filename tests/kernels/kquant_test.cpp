// The types added with the K-quants: dequantizing hand-built GGUF blocks against the format's
// definition, quantizer round-trip bounds, and every kernel table against the scalar reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "core/quants.h"
#include "kernel_test_util.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "kernels/packed.h"

namespace ll::kernels {
namespace {

using testing::kernel_tables;
using testing::random_floats;
using testing::same_bits;

constexpr DType kNewTypes[] = {DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K,
                               DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_K};

std::vector<uint8_t> random_bytes(std::mt19937& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// Small fp16 scales, so the values stay finite and readable.
void set_half(uint16_t* h, float v) {
  *h = fp32_to_fp16(v);
}

// ---- The format definitions, written as the public description walks a block (pointer
// increments over the quants and scales), independently of the per-element index formulas
// of core/quants.cpp ----

void spec_q2_k(const BlockQ2_K& b, float* y) {
  const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
  const uint8_t* q = b.qs;
  int is = 0;
  for (int half = 0; half < 2; ++half) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int part = 0; part < 2; ++part) {
        const uint8_t sc = b.scales[is++];
        for (int l = 0; l < 16; ++l)
          *y++ = d * (sc & 0xF) * ((q[16 * part + l] >> shift) & 3) - dmin * (sc >> 4);
      }
    }
    q += 32;
  }
}

void spec_q3_k(const BlockQ3_K& b, float* y) {
  // Unpack the 16 six-bit scales through 32-bit words as the description does.
  uint32_t aux[4];
  std::memcpy(aux, b.scales, 12);
  const uint32_t tmp = aux[2], m1 = 0x03030303, m2 = 0x0f0f0f0f;
  aux[2] = ((aux[0] >> 4) & m2) | (((tmp >> 4) & m1) << 4);
  aux[3] = ((aux[1] >> 4) & m2) | (((tmp >> 6) & m1) << 4);
  aux[0] = (aux[0] & m2) | (((tmp >> 0) & m1) << 4);
  aux[1] = (aux[1] & m2) | (((tmp >> 2) & m1) << 4);
  int8_t scales[16];
  std::memcpy(scales, aux, 16);
  const float d = fp16_to_fp32(b.d);
  const uint8_t* q = b.qs;
  uint8_t m = 1;
  int is = 0;
  for (int half = 0; half < 2; ++half) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int part = 0; part < 2; ++part) {
        const float dl = d * (scales[is++] - 32);
        for (int l = 16 * part; l < 16 * part + 16; ++l) {
          *y++ = dl * (((q[l] >> shift) & 3) - ((b.hmask[l] & m) ? 0 : 4));
        }
      }
      m <<= 1;
    }
    q += 32;
  }
}

void spec_scale_min(int j, const uint8_t* q, int* d, int* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

template <class Block, bool kQh>
void spec_q45_k(const Block& b, float* y) {
  const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
  const uint8_t* q = b.qs;
  int is = 0;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < 256; j += 64) {
    int sc, m;
    spec_scale_min(is, b.scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    spec_scale_min(is + 1, b.scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) {
      int h = 0;
      if constexpr (kQh) h = (b.qh[l] & u1) ? 16 : 0;
      *y++ = d1 * ((q[l] & 0xF) + h) - m1;
    }
    for (int l = 0; l < 32; ++l) {
      int h = 0;
      if constexpr (kQh) h = (b.qh[l] & u2) ? 16 : 0;
      *y++ = d2 * ((q[l] >> 4) + h) - m2;
    }
    q += 32;
    is += 2;
    u1 <<= 2;
    u2 <<= 2;
  }
}

void spec_q6_k(const BlockQ6_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  const uint8_t* ql = b.ql;
  const uint8_t* qh = b.qh;
  const int8_t* sc = b.scales;
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l + 0] = d * sc[is + 0] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

template <class Block>
void spec_q4_1_or_q5(const Block& b, float* y, bool has_qh, bool has_m) {
  const float d = fp16_to_fp32(b.d);
  float m = 0.0f;
  uint32_t qh = 0;
  if constexpr (requires { b.m; }) m = fp16_to_fp32(b.m);
  if constexpr (requires { b.qh; }) std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < 16; ++j) {
    const int x0 = (b.qs[j] & 0x0F) | (has_qh ? ((qh >> j) << 4) & 0x10 : 0);
    const int x1 = (b.qs[j] >> 4) | (has_qh ? (qh >> (j + 12)) & 0x10 : 0);
    if (has_m) {
      y[j] = x0 * d + m;
      y[j + 16] = x1 * d + m;
    } else {
      y[j] = (x0 - 16) * d;
      y[j + 16] = (x1 - 16) * d;
    }
  }
}

template <class Block>
void expect_dequant(const Block& b, DType t, void (*spec)(const Block&, float*)) {
  const int n = dtype_info(t).block_size;
  std::vector<float> got(n), want(n);
  dequantize_row(t, &b, got.data(), n);
  spec(b, want.data());
  for (int i = 0; i < n; ++i) ASSERT_EQ(got[i], want[i]) << dtype_name(t) << " element " << i;
}

TEST(KQuantFormatTest, BlockSizesAreGgufs) {
  // Bytes per block as GGUF stores them (ggml's type sizes).
  const std::pair<DType, int> sizes[] = {
      {DType::kQ4_1, 20},  {DType::kQ5_0, 22},  {DType::kQ5_1, 24},
      {DType::kQ2_K, 84},  {DType::kQ3_K, 110}, {DType::kQ4_K, 144},
      {DType::kQ5_K, 176}, {DType::kQ6_K, 210}, {DType::kQ8_K, 292}};
  for (auto [t, bytes] : sizes) {
    EXPECT_EQ(dtype_info(t).bytes_per_block, bytes) << dtype_name(t);
    EXPECT_EQ(dtype_info(static_cast<uint32_t>(t))->name, dtype_name(t));
    EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
  }
}

TEST(KQuantFormatTest, HandBuiltBlocksKnownValues) {
  // Q4_1: d = 0.5, m = -1, element 0 = nibble 3 -> 0.5; element 16 = nibble 15 -> 6.5.
  BlockQ4_1 a{};
  set_half(&a.d, 0.5f);
  set_half(&a.m, -1.0f);
  a.qs[0] = 0xF3;
  float y[256];
  dequantize_row(DType::kQ4_1, &a, y, 32);
  EXPECT_EQ(y[0], 0.5f);
  EXPECT_EQ(y[16], 6.5f);
  EXPECT_EQ(y[1], -1.0f);
  // Q5_0: element 17's fifth bit is bit 17 of qh; nibble 1 | 16 = 17 -> (17 - 16) * 2 = 2.
  BlockQ5_0 b{};
  set_half(&b.d, 2.0f);
  b.qs[1] = 0x10;
  b.qh[2] = 0x02;
  dequantize_row(DType::kQ5_0, &b, y, 32);
  EXPECT_EQ(y[17], 2.0f);
  EXPECT_EQ(y[1], -32.0f);
  // Q4_K: sub-block 5 (elements 160..191) scale = 6 bits from scales[9] low nibble and
  // scales[1] top bits; its quants are the high nibbles of qs[64..95].
  BlockQ4_K c{};
  set_half(&c.d, 1.0f);
  set_half(&c.dmin, 0.25f);
  c.scales[9] = 0x32;   // scale low nibble 2, min low nibble 3
  c.scales[1] = 0x40;   // scale bits 4..5 = 1 -> scale 18
  c.scales[5] = 0x80;   // min bits 4..5 = 2 -> min 35
  c.qs[64 + 7] = 0x50;  // element 160 + 7 = 5
  dequantize_row(DType::kQ4_K, &c, y, 256);
  EXPECT_EQ(y[167], 18.0f * 5 - 0.25f * 35);
  EXPECT_EQ(y[160], -0.25f * 35);
  // Q6_K: element 200 = 128 + 64 + 8: high nibble of ql[64 + 8], bits 4..5 of qh[32 + 8],
  // scale 12.
  BlockQ6_K e{};
  set_half(&e.d, 0.5f);
  e.scales[12] = -3;
  e.ql[72] = 0x70;
  e.qh[40] = 0x20;  // high bits 2 -> q = 7 | 32 = 39, minus 32 = 7
  dequantize_row(DType::kQ6_K, &e, y, 256);
  EXPECT_EQ(y[200], 0.5f * -3 * 7);
}

TEST(KQuantFormatTest, RandomBlocksMatchTheFormatDefinition) {
  std::mt19937 rng(7);
  for (int rep = 0; rep < 50; ++rep) {
    auto fill = [&](auto& blk) {
      auto bytes = random_bytes(rng, sizeof(blk));
      std::memcpy(&blk, bytes.data(), sizeof(blk));
    };
    BlockQ2_K q2;
    fill(q2);
    set_half(&q2.d, 0.125f * (rep % 7 + 1));
    set_half(&q2.dmin, 0.0625f * (rep % 5));
    expect_dequant(q2, DType::kQ2_K, spec_q2_k);
    BlockQ3_K q3;
    fill(q3);
    set_half(&q3.d, -0.25f * (rep % 3 + 1));
    expect_dequant(q3, DType::kQ3_K, spec_q3_k);
    BlockQ4_K q4;
    fill(q4);
    set_half(&q4.d, 0.01f * rep);
    set_half(&q4.dmin, 0.02f);
    expect_dequant(q4, DType::kQ4_K, spec_q45_k<BlockQ4_K, false>);
    BlockQ5_K q5;
    fill(q5);
    set_half(&q5.d, 0.5f);
    set_half(&q5.dmin, -0.03f * rep);
    expect_dequant(q5, DType::kQ5_K, spec_q45_k<BlockQ5_K, true>);
    BlockQ6_K q6;
    fill(q6);
    set_half(&q6.d, 0.003f * rep);
    expect_dequant(q6, DType::kQ6_K, spec_q6_k);
    BlockQ4_1 l41;
    fill(l41);
    set_half(&l41.d, 0.1f);
    set_half(&l41.m, -0.7f);
    expect_dequant(
        l41, DType::kQ4_1,
        +[](const BlockQ4_1& b, float* y) { spec_q4_1_or_q5(b, y, false, true); });
    BlockQ5_0 l50;
    fill(l50);
    set_half(&l50.d, 0.3f);
    expect_dequant(
        l50, DType::kQ5_0,
        +[](const BlockQ5_0& b, float* y) { spec_q4_1_or_q5(b, y, true, false); });
    BlockQ5_1 l51;
    fill(l51);
    set_half(&l51.d, 0.3f);
    set_half(&l51.m, 1.5f);
    expect_dequant(
        l51, DType::kQ5_1,
        +[](const BlockQ5_1& b, float* y) { spec_q4_1_or_q5(b, y, true, true); });
  }
}

// Quantize -> dequantize keeps the values within a bound set by each type's bits: RMS error
// over RMS signal of normal data, about a uniform quantizer's step / sqrt(12) for the levels
// a sub-block's range is cut into, with room for scale rounding.
TEST(KQuantFormatTest, RoundTripErrorBounds) {
  std::mt19937 rng(11);
  const int64_t n = 256 * 64;
  std::vector<float> x = random_floats(rng, n, 1.0f);
  const std::pair<DType, double> bounds[] = {
      {DType::kQ8_K, 0.009}, {DType::kQ6_K, 0.03}, {DType::kQ5_K, 0.05},
      {DType::kQ5_1, 0.06},  {DType::kQ5_0, 0.06}, {DType::kQ4_K, 0.10},
      {DType::kQ4_1, 0.12},  {DType::kQ3_K, 0.22}, {DType::kQ2_K, 0.40}};
  double prev = 0;
  for (auto [t, bound] : bounds) {
    std::vector<uint8_t> q(row_bytes(t, n));
    std::vector<float> y(n);
    quantize_row(t, x.data(), q.data(), n);
    dequantize_row(t, q.data(), y.data(), n);
    double err = 0, sig = 0;
    for (int64_t i = 0; i < n; ++i) err += (y[i] - x[i]) * (y[i] - x[i]), sig += x[i] * x[i];
    const double rel = std::sqrt(err / sig);
    std::printf("%-5s round trip: RMS error / RMS value %.4f\n", std::string(dtype_name(t)).c_str(),
                rel);
    EXPECT_LT(rel, bound) << dtype_name(t);
    EXPECT_GT(rel, prev * 0.5) << dtype_name(t);  // fewer bits never do much better
    prev = rel;
    // Zeros stay zeros, and a constant block stays close to its constant.
    std::vector<float> z(256, 0.0f), zy(256, 1.0f);
    std::vector<uint8_t> zq(row_bytes(t, 256));
    quantize_row(t, z.data(), zq.data(), 256);
    dequantize_row(t, zq.data(), zy.data(), 256);
    for (float v : zy) ASSERT_EQ(v, 0.0f) << dtype_name(t);
  }
}

// ---- Kernels ----

struct Case {
  DType t;
  int64_t rows, cols, batch;
};

std::vector<uint8_t> quantized_matrix(std::mt19937& rng, DType t, int64_t rows, int64_t cols,
                                      std::vector<float>* values) {
  const size_t stride = row_bytes(t, cols);
  std::vector<uint8_t> w(stride * rows);
  std::vector<float> src = random_floats(rng, rows * cols, 0.5f);
  values->resize(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    quantize_row(t, src.data() + r * cols, w.data() + r * stride, cols);
    dequantize_row(t, w.data() + r * stride, values->data() + r * cols, cols);
  }
  return w;
}

// The scalar reference computes the dot of the dequantized weights with the activations as
// quantized to 8 bits: close to the float dot.
TEST(KQuantKernelTest, ScalarReferenceIsTheDotProduct) {
  std::mt19937 rng(3);
  for (DType t : kNewTypes) {
    const int64_t rows = 9, cols = 512;
    std::vector<float> wv;
    auto w = quantized_matrix(rng, t, rows, cols, &wv);
    std::vector<float> x = random_floats(rng, cols), y(rows);
    matvec(t, w.data(), rows, cols, x.data(), y.data(), nullptr, Isa::kScalar);
    for (int64_t r = 0; r < rows; ++r) {
      double want = 0, mag = 0;
      for (int64_t k = 0; k < cols; ++k) {
        want += double(wv[r * cols + k]) * x[k];
        mag += std::fabs(double(wv[r * cols + k]) * x[k]);
      }
      // 8-bit activations: relative error about 1/254 per element, averaging out.
      EXPECT_NEAR(y[r], want, 0.01 * mag + 1e-4) << dtype_name(t) << " row " << r;
    }
  }
}

// Every table (AVX2 with and without VNNI, NEON with and without SDOT) gives the scalar
// reference's bits, over ragged shapes and 1-3 threads; row b of matmul equals matvec of row b.
TEST(KQuantKernelTest, EveryTableMatchesScalarBits) {
  std::mt19937 rng(5);
  std::vector<std::unique_ptr<ThreadPool>> pools;
  for (int t = 1; t <= 3; ++t) pools.push_back(std::make_unique<ThreadPool>(t));
  for (DType t : kNewTypes) {
    const int64_t block = dtype_info(t).block_size;
    // Small enough for the qemu run of scripts/test_arm.sh (scalar products are slow there).
    for (int iter = 0; iter < 3; ++iter) {
      const int64_t rows = 1 + rng() % 40, cols = block * (1 + rng() % (block == 32 ? 12 : 3));
      const int64_t batch = 1 + rng() % 6;
      std::vector<float> wv;
      auto w = quantized_matrix(rng, t, rows, cols, &wv);
      std::vector<float> x = random_floats(rng, batch * cols);
      std::vector<float> want(batch * rows);
      matmul(t, w.data(), rows, cols, x.data(), batch, want.data(), nullptr, Isa::kScalar);
      for (Isa isa : testing::test_isas()) {
        for (auto& pool : pools) {
          std::vector<float> got(batch * rows, NAN), vec(rows, NAN);
          matmul(t, w.data(), rows, cols, x.data(), batch, got.data(), pool.get(), isa);
          ASSERT_TRUE(same_bits(got, want))
              << dtype_name(t) << " " << isa_name(isa) << " " << rows << "x" << cols << " batch "
              << batch << " threads " << pool->size();
          for (int64_t b = 0; b < batch && pool->size() == 2; ++b) {
            matvec(t, w.data(), rows, cols, x.data() + b * cols, vec.data(), pool.get(), isa);
            ASSERT_EQ(0, std::memcmp(vec.data(), want.data() + b * rows, rows * 4))
                << dtype_name(t) << " " << isa_name(isa) << " row " << b;
          }
        }
      }
    }
  }
}

// A table's Q8_K activation quantizer writes the scalar quantizer's bytes: random rows, and
// super-blocks of zeros, one spike, values on rounding ties, huge and tiny magnitudes, and NaN.
TEST(KQuantKernelTest, TableQ8KQuantizerMatchesScalarBytes) {
  std::mt19937 rng(13);
  const int64_t n = 12 * kQK_K;
  std::vector<float> x = random_floats(rng, n, 2.0f);
  for (int e = 0; e < kQK_K; ++e) x[e] = 0.0f;  // block 0: all zero
  x[kQK_K + 17] = 1000.0f;                      // block 1: one spike
  for (int e = 0; e < kQK_K; ++e) x[2 * kQK_K + e] = 0.5f * (e % 255) - 63.5f;  // ties
  x[2 * kQK_K + 255] = 127.0f;  // amax 127: d = 1, so x.5 values round to even
  for (int e = 0; e < kQK_K; ++e) x[3 * kQK_K + e] *= 1e30f;   // huge
  for (int e = 0; e < kQK_K; ++e) x[4 * kQK_K + e] *= 1e-40f;  // subnormal
  for (int e = 0; e < kQK_K; ++e) x[5 * kQK_K + e] = -std::fabs(x[5 * kQK_K + e]);
  x[6 * kQK_K + 3] = NAN;
  x[7 * kQK_K + 200] = INFINITY;
  const size_t bytes = n / kQK_K * sizeof(BlockQ8_K);
  std::vector<uint8_t> want(bytes), got(bytes);
  quants::q8_k_from_float(x.data(), want.data(), n);
  int checked = 0;
  for (const internal::KernelTable* kt : kernel_tables()) {
    if (kt->quantize_q8_k == nullptr) continue;
    std::fill(got.begin(), got.end(), 0xA5);
    kt->quantize_q8_k(x.data(), got.data(), n);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
      ASSERT_EQ(0, std::memcmp(got.data() + i * sizeof(BlockQ8_K),
                               want.data() + i * sizeof(BlockQ8_K), sizeof(BlockQ8_K)))
          << isa_name(kt->isa) << " super-block " << i;
    }
    ++checked;
  }
#if defined(__x86_64__)
  if (isa_supported(Isa::kAvx2)) EXPECT_GT(checked, 0);
#endif
}

// Packed Q4_K/Q6_K: packing round-trips, and every packed kernel (scalar reference, AVX2
// maddubs, AVX-VNNI, AVX512-VNNI; NEON SMULL and, where the CPU has it, SDOT) gives the plain
// scalar reference's bits, with and without work stealing, 1-3 threads, batches 1..9.
TEST(KQuantPackedTest, EveryPackedKernelMatchesPlainScalarBits) {
  std::vector<std::pair<const char*, internal::GemmFn>> fns{
      {"scalar", internal::gemm_packed_k_scalar}};
#if defined(__x86_64__)
  if (isa_supported(Isa::kAvx2)) {
    fns.push_back({"avx2", internal::gemm_packed_k_avx2});
    if (internal::x86_features().avx_vnni)
      fns.push_back({"avx-vnni", internal::gemm_packed_k_avxvnni});
    if (internal::x86_features().avx512_vnni_vl) {
      fns.push_back({"avx512-vnni", internal::gemm_packed_k_avx512vnni});
      fns.push_back({"avx512-vnni-zmm", internal::gemm_packed_k_avx512});
    }
  }
#endif
#if defined(__aarch64__)
  fns.push_back({"neon", internal::gemm_packed_k_neon});
  if (internal::neon_has_dotprod())
    fns.push_back({"neon-sdot", internal::gemm_packed_k_neon_dotprod});
#endif
  std::mt19937 rng(9);
  std::vector<std::unique_ptr<ThreadPool>> pools;
  for (int t = 1; t <= 3; ++t) pools.push_back(std::make_unique<ThreadPool>(t));
  int compared = 0;
  for (DType t : {DType::kQ4_K, DType::kQ6_K}) {
    for (int iter = 0; iter < 4; ++iter) {
      const int64_t rows = 8 * (1 + rng() % 9), cols = 256 * (1 + rng() % 4);
      ASSERT_TRUE(packable(t, rows, cols));
      EXPECT_FALSE(packable(t, rows, cols + 32));
      std::vector<float> wv;
      auto w = quantized_matrix(rng, t, rows, cols, &wv);
      PackedMatrix pm = PackedMatrix::pack(t, w.data(), rows, cols);
      EXPECT_EQ(pm.bytes(), rows / 8 * packed_group_bytes(t, cols));
      std::vector<uint8_t> back(row_bytes(t, cols));
      for (int64_t r = 0; r < rows; ++r) {
        pm.unpack_row(r, back.data());
        ASSERT_EQ(0, std::memcmp(back.data(), w.data() + r * back.size(), back.size()))
            << dtype_name(t) << " row " << r;
      }
      // Decode, the streamed small batches (around the 4-column tiles), and any up to 9.
      for (int64_t batch :
           {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{5}, int64_t{1 + rng() % 9}}) {
        std::vector<float> x = random_floats(rng, batch * cols), want(batch * rows);
        matmul(t, w.data(), rows, cols, x.data(), batch, want.data(), nullptr, Isa::kScalar);
        for (auto [name, fn] : fns) {
          for (auto& pool : pools) {
            std::vector<float> got(batch * rows, NAN);
            internal::GemmArgs a{t,     pm.data(),  packed_group_bytes(t, cols),
                                 cols,  x.data(),   0,
                                 batch, got.data(), rows};
            a.stealable = internal::packed_stealable(rows, batch);  // as matmul does
            internal::run_quantized_k(fn, a, rows, pool.get());
            ASSERT_TRUE(same_bits(got, want))
                << dtype_name(t) << " " << name << " " << rows << "x" << cols << " batch " << batch
                << " threads " << pool->size();
            ++compared;
          }
        }
        // The public entry point too.
        std::vector<float> got(batch * rows, NAN);
        pm.matmul(x.data(), batch, got.data(), pools[1].get());
        ASSERT_TRUE(same_bits(got, want)) << dtype_name(t) << " PackedMatrix::matmul";
      }
    }
  }
  std::printf("compared %d packed K-quant products across %zu kernels\n", compared, fns.size());
}

// Work stealing, made deterministic: thread 0 of three runs alone, so after its own range it
// takes every group of the other two ranges from their backs (consecutive pairs and the odd
// ones), and the result must still be the scalar reference's.
TEST(KQuantPackedTest, OneThreadStealsTheOtherRanges) {
  std::vector<std::pair<const char*, internal::GemmFn>> fns{
      {"scalar", internal::gemm_packed_k_scalar}};
#if defined(__x86_64__)
  if (isa_supported(Isa::kAvx2)) {
    fns.push_back({"avx2", internal::gemm_packed_k_avx2});
    if (internal::x86_features().avx512_vnni_vl) {
      fns.push_back({"avx512-vnni-zmm", internal::gemm_packed_k_avx512});
    }
  }
#endif
#if defined(__aarch64__)
  fns.push_back({"neon", internal::gemm_packed_k_neon});
#endif
  std::mt19937 rng(17);
  for (DType t : {DType::kQ4_K, DType::kQ6_K}) {
    for (int64_t groups : {3, 8, 11}) {
      const int64_t rows = 8 * groups, cols = 512;
      std::vector<float> wv;
      auto w = quantized_matrix(rng, t, rows, cols, &wv);
      PackedMatrix pm = PackedMatrix::pack(t, w.data(), rows, cols);
      std::vector<float> x = random_floats(rng, cols), want(rows);
      matmul(t, w.data(), rows, cols, x.data(), 1, want.data(), nullptr, Isa::kScalar);
      std::vector<uint8_t> xq(internal::q8k_row_bytes(cols));
      quants::q8_k_from_float(x.data(), xq.data(), cols);
      for (auto [name, fn] : fns) {
        internal::GroupClaim claims[3];
        const int64_t cut1 = groups / 3, cut2 = 2 * groups / 3;
        claims[0].reset(0, cut1);
        claims[1].reset(cut1, cut2);
        claims[2].reset(cut2, groups);
        std::vector<float> got(rows, NAN);
        internal::GemmArgs a{t,    pm.data(),  packed_group_bytes(t, cols),
                             cols, xq.data(),  xq.size(),
                             1,    got.data(), rows};
        a.claims = claims;
        a.n_claims = 3;
        a.thread = 0;
        a.stealable = true;
        fn(a, 0, rows);
        ASSERT_TRUE(same_bits(got, want)) << dtype_name(t) << " " << name << " groups " << groups;
        for (const auto& c : claims) EXPECT_GE(c.front(), c.back()) << name << ": a range left";
      }
    }
  }
}

}  // namespace
}  // namespace ll::kernels
