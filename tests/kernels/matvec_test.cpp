// matvec/matmul: accuracy against double-precision references with rigorous rounding bounds,
// and the bit-identity guarantees (thread counts, matmul rows vs matvec, repeated runs).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

namespace ll::kernels {
namespace {

using internal::ActRow;
using testing::make_weights;
using testing::random_floats;
using testing::same_bits;
using testing::test_isas;

constexpr double kUnit = 1.0 / (1 << 24);  // float unit roundoff

struct Reference {
  double value;
  double magnitude;  // sum of |terms|, scales the rounding bound
  int chain;         // longest sequence of roundings any term goes through
};

// Exact dot (in double) of a weight row with what the kernel actually multiplies: the float x,
// or for quantized weights x's Q8 activation blocks.
Reference reference_dot(DType t, const testing::Weights& w, int64_t r, int64_t n_cols,
                        const float* x) {
  Reference ref{0.0, 0.0, 0};
  const float* wr = w.values.data() + r * n_cols;
  if (!internal::is_quantized(t)) {
    for (int64_t k = 0; k < n_cols; ++k) {
      double term = static_cast<double>(wr[k]) * x[k];
      ref.value += term;
      ref.magnitude += std::fabs(term);
    }
    // 8-lane accumulation, 3 reduction levels, then product + add per tail element.
    ref.chain = static_cast<int>(n_cols / 8 + 3 + 2 * (n_cols % 8) + 2);
    return ref;
  }
  const int64_t nb = n_cols / 32;
  std::vector<uint8_t> buf(ActRow::bytes(nb, false));
  internal::scalar_table().quantize_act(x, n_cols, buf.data(), 0);
  ActRow xq = ActRow::at(buf.data(), nb);
  const uint8_t* row = w.bytes.data() + r * w.stride;
  const size_t block_bytes = t == DType::kQ8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  for (int64_t i = 0; i < n_cols / 32; ++i) {
    double dw = fp16_to_fp32(internal::load_u16(row + i * block_bytes));
    double isum = 0.0, iabs = 0.0;
    for (int j = 0; j < 32; ++j) {
      // w.values = dw * q exactly (q is a small integer), so q = value / dw.
      double q = dw != 0.0 ? wr[i * 32 + j] / dw : 0.0;
      isum += q * xq.qs[i * 32 + j];
      iabs += std::fabs(q * xq.qs[i * 32 + j]);
    }
    ref.value += dw * xq.d[i] * isum;
    ref.magnitude += std::fabs(dw * xq.d[i]) * iabs;
  }
  // Scale product, multiply(-add) and add per block, plus the lane reduction.
  ref.chain = static_cast<int>(n_cols / 32 + 8);
  return ref;
}

void check_matvec_accuracy(DType t, Isa isa, int64_t n_rows, int64_t n_cols, std::mt19937& rng) {
  testing::Weights w = make_weights(rng, t, n_rows, n_cols);
  std::vector<float> x = random_floats(rng, n_cols);
  std::vector<float> y(n_rows);
  matvec(t, w.bytes.data(), n_rows, n_cols, x.data(), y.data(), nullptr, isa);
  for (int64_t r = 0; r < n_rows; ++r) {
    Reference ref = reference_dot(t, w, r, n_cols, x.data());
    double tol = 1.01 * ref.chain * kUnit * ref.magnitude + 1e-30;
    ASSERT_NEAR(y[r], ref.value, tol) << dtype_name(t) << " " << isa_name(isa) << " rows " << n_rows
                                      << " cols " << n_cols << " row " << r;
  }
}

TEST(MatvecTest, FloatTypesMatchReferenceForAnyLength) {
  std::mt19937 rng(1);
  for (Isa isa : test_isas()) {
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (int64_t n_cols : {1, 5, 8, 13, 16, 63, 64, 100, 257}) {
        for (int64_t n_rows : {1, 3, 7, 18}) check_matvec_accuracy(t, isa, n_rows, n_cols, rng);
      }
    }
  }
}

TEST(MatvecTest, QuantTypesMatchReference) {
  std::mt19937 rng(2);
  for (Isa isa : test_isas()) {
    for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
      for (int64_t n_cols : {32, 64, 96, 160, 256, 544}) {
        for (int64_t n_rows : {1, 3, 7, 18}) check_matvec_accuracy(t, isa, n_rows, n_cols, rng);
      }
    }
  }
}

// The activation quantization error is bounded by half a step per element; this checks the
// whole pipeline against plain float math, independent of the internal block format.
TEST(MatvecTest, QuantTypesMatchFloatMathWithinActivationQuantError) {
  std::mt19937 rng(3);
  const int64_t n_rows = 9, n_cols = 320;
  for (Isa isa : test_isas()) {
    for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
      testing::Weights w = make_weights(rng, t, n_rows, n_cols);
      std::vector<float> x = random_floats(rng, n_cols);
      std::vector<float> y(n_rows);
      matvec(t, w.bytes.data(), n_rows, n_cols, x.data(), y.data(), nullptr, isa);
      for (int64_t r = 0; r < n_rows; ++r) {
        double ref = 0.0, bound = 0.0;
        for (int64_t i = 0; i < n_cols / 32; ++i) {
          double amax = 0.0;
          for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[i * 32 + j]));
          for (int j = 0; j < 32; ++j) {
            double wv = w.values[r * n_cols + i * 32 + j];
            ref += wv * x[i * 32 + j];
            bound += std::fabs(wv) * (amax / 127.0) * 0.5 * 1.001;
          }
        }
        EXPECT_NEAR(y[r], ref, bound + 1e-4 * std::fabs(ref)) << dtype_name(t) << " row " << r;
      }
    }
  }
}

TEST(MatvecTest, ActivationQuantizerIsIdenticalAcrossIsas) {
  std::mt19937 rng(4);
  std::vector<float> x = random_floats(rng, 32 * 40, 3.0f);
  for (int j = 0; j < 32; ++j) x[j] = 0.0f;                  // all-zero block
  for (int j = 0; j < 32; ++j) x[32 + j] = (j - 16) * 0.5f;  // exact halfway cases
  const int64_t n = static_cast<int64_t>(x.size()), nb = n / 32;
  for (int sum_scale : {0, 8, 128}) {
    std::vector<uint8_t> ref(ActRow::bytes(nb, sum_scale != 0)), got(ref.size());
    internal::scalar_table().quantize_act(x.data(), n, ref.data(), sum_scale);
    ActRow r = ActRow::at(ref.data(), nb);
    EXPECT_EQ(r.d[0], 0.0f);
    for (int j = 0; j < 32; ++j) {
      EXPECT_EQ(r.qs[j], 0);
      // d = 8/127 and x/d = (j-16)*127/16, rounded to nearest.
      EXPECT_NEAR(r.qs[32 + j], (j - 16) * 127.0 / 16.0, 0.5 + 1e-4);
    }
    if (sum_scale != 0) {
      for (int64_t i = 0; i < nb * 8; ++i) {
        int sum = r.qs[4 * i] + r.qs[4 * i + 1] + r.qs[4 * i + 2] + r.qs[4 * i + 3];
        ASSERT_EQ(r.negsums[i], -sum_scale * sum);
      }
    }
    for (Isa isa : test_isas()) {
      internal::table_for(isa).quantize_act(x.data(), n, got.data(), sum_scale);
      size_t used = nb * (sum_scale != 0 ? 68 : 36);
      EXPECT_EQ(std::memcmp(ref.data(), got.data(), used), 0) << isa_name(isa);
    }
  }
}

TEST(MatvecTest, BitIdenticalForAnyThreadCountAndRun) {
  std::mt19937 rng(5);
  std::unique_ptr<ThreadPool> pools[] = {std::make_unique<ThreadPool>(2),
                                         std::make_unique<ThreadPool>(3)};
  for (Isa isa : test_isas()) {
    for (DType t : testing::kAllTypes) {
      // Big enough to take the parallel path, odd row counts to split unevenly.
      const int64_t n_rows = 101, n_cols = internal::is_quantized(t) ? 352 : 333;
      testing::Weights w = make_weights(rng, t, n_rows, n_cols);
      std::vector<float> x = random_floats(rng, n_cols);
      std::vector<float> y1(n_rows), y(n_rows);
      matvec(t, w.bytes.data(), n_rows, n_cols, x.data(), y1.data(), nullptr, isa);
      for (auto& pool : pools) {
        for (int rep = 0; rep < 2; ++rep) {
          matvec(t, w.bytes.data(), n_rows, n_cols, x.data(), y.data(), pool.get(), isa);
          ASSERT_TRUE(same_bits(y1, y))
              << dtype_name(t) << " " << isa_name(isa) << " threads " << pool->size();
        }
      }
    }
  }
}

TEST(MatmulTest, EveryRowIsBitIdenticalToMatvecForAnyThreadCount) {
  std::mt19937 rng(6);
  ThreadPool pool2(2), pool3(3);
  ThreadPool* pools[] = {nullptr, &pool2, &pool3};
  for (Isa isa : test_isas()) {
    for (DType t : testing::kAllTypes) {
      const int64_t n_rows = 37, n_cols = internal::is_quantized(t) ? 160 : 101;
      testing::Weights w = make_weights(rng, t, n_rows, n_cols);
      for (int64_t n_batch = 1; n_batch <= 9; ++n_batch) {
        std::vector<float> x = random_floats(rng, n_batch * n_cols);
        std::vector<float> expect(n_batch * n_rows);
        for (int64_t b = 0; b < n_batch; ++b) {
          matvec(t, w.bytes.data(), n_rows, n_cols, x.data() + b * n_cols,
                 expect.data() + b * n_rows, nullptr, isa);
        }
        for (ThreadPool* pool : pools) {
          std::vector<float> y(n_batch * n_rows);
          matmul(t, w.bytes.data(), n_rows, n_cols, x.data(), n_batch, y.data(), pool, isa);
          ASSERT_TRUE(same_bits(expect, y)) << dtype_name(t) << " " << isa_name(isa) << " batch "
                                            << n_batch << " threads " << (pool ? pool->size() : 1);
        }
      }
    }
  }
}

TEST(MatmulTest, RandomShapesMatchReferenceAndMatvec) {
  std::mt19937 rng(10);
  ThreadPool pool2(2), pool3(3);
  ThreadPool* pools[] = {nullptr, &pool2, &pool3};
  std::uniform_int_distribution<int> pick(0, 1 << 20);
  for (int iter = 0; iter < 40; ++iter) {
    const DType t = testing::kAllTypes[pick(rng) % 5];
    const Isa isa = test_isas()[pick(rng) % test_isas().size()];
    const int64_t n_rows = 1 + pick(rng) % 70;
    const int64_t n_cols =
        internal::is_quantized(t) ? 32 * (1 + pick(rng) % 24) : 1 + pick(rng) % 700;
    const int64_t n_batch = 1 + pick(rng) % 9;
    ThreadPool* pool = pools[pick(rng) % 3];
    testing::Weights w = make_weights(rng, t, n_rows, n_cols);
    std::vector<float> x = random_floats(rng, n_batch * n_cols), y(n_batch * n_rows), yb(n_rows);
    matmul(t, w.bytes.data(), n_rows, n_cols, x.data(), n_batch, y.data(), pool, isa);
    for (int64_t b = 0; b < n_batch; ++b) {
      matvec(t, w.bytes.data(), n_rows, n_cols, x.data() + b * n_cols, yb.data(), nullptr, isa);
      ASSERT_EQ(std::memcmp(yb.data(), y.data() + b * n_rows, n_rows * sizeof(float)), 0)
          << dtype_name(t) << " " << isa_name(isa) << " " << n_rows << "x" << n_cols << " batch "
          << n_batch;
      for (int64_t r = 0; r < n_rows; ++r) {
        Reference ref = reference_dot(t, w, r, n_cols, x.data() + b * n_cols);
        ASSERT_NEAR(yb[r], ref.value, 1.01 * ref.chain * kUnit * ref.magnitude + 1e-30)
            << dtype_name(t) << " " << isa_name(isa) << " row " << r;
      }
    }
  }
}

// Large batches with long rows are processed in several activation chunks (and the parallel
// path); rows must still match matvec exactly.
TEST(MatmulTest, ChunkedLargeBatchMatchesMatvec) {
  std::mt19937 rng(7);
  ThreadPool pool(2);
  for (Isa isa : test_isas()) {
    for (DType t : {DType::kQ4_0, DType::kF16}) {
      const int64_t n_rows = 61, n_cols = 8192, n_batch = 131;
      testing::Weights w = make_weights(rng, t, n_rows, n_cols);
      std::vector<float> x = random_floats(rng, n_batch * n_cols);
      std::vector<float> y(n_batch * n_rows), yb(n_rows);
      matmul(t, w.bytes.data(), n_rows, n_cols, x.data(), n_batch, y.data(), &pool, isa);
      for (int64_t b = 0; b < n_batch; b += 13) {
        matvec(t, w.bytes.data(), n_rows, n_cols, x.data() + b * n_cols, yb.data(), nullptr, isa);
        ASSERT_EQ(std::memcmp(yb.data(), y.data() + b * n_rows, n_rows * sizeof(float)), 0)
            << dtype_name(t) << " " << isa_name(isa) << " batch row " << b;
      }
    }
  }
}

TEST(MatvecTest, SimdAgreesWithScalar) {
  std::mt19937 rng(8);
  for (DType t : testing::kAllTypes) {
    const int64_t n_rows = 23, n_cols = internal::is_quantized(t) ? 416 : 419;
    testing::Weights w = make_weights(rng, t, n_rows, n_cols);
    std::vector<float> x = random_floats(rng, n_cols);
    std::vector<float> ref(n_rows), y(n_rows);
    matvec(t, w.bytes.data(), n_rows, n_cols, x.data(), ref.data(), nullptr, Isa::kScalar);
    for (Isa isa : test_isas()) {
      matvec(t, w.bytes.data(), n_rows, n_cols, x.data(), y.data(), nullptr, isa);
      for (int64_t r = 0; r < n_rows; ++r) {
        Reference e = reference_dot(t, w, r, n_cols, x.data());
        // Both sides are within the rounding bound of the exact value.
        EXPECT_NEAR(y[r], ref[r], 2.02 * e.chain * kUnit * e.magnitude) << isa_name(isa);
      }
    }
  }
}

#if defined(__x86_64__)
// VNNI is an internal speed-up of Isa::kAvx2, so it must not change a single bit. Weights
// include -128, which standard quantizers never emit but foreign files may.
TEST(MatvecTest, VnniAndMaddPathsAreBitIdentical) {
  if (!isa_supported(Isa::kAvx2)) GTEST_SKIP() << "no AVX2";
  std::vector<internal::GemmFn> variants = {internal::avx2_table(false).gemm};
  if (internal::x86_features().avx_vnni) variants.push_back(internal::gemm_quant_avxvnni);
  if (internal::x86_features().avx512_vnni_vl) {
    variants.push_back(internal::gemm_quant_avx512vnni);
  }
  if (variants.size() == 1) GTEST_SKIP() << "no VNNI on this CPU";
  std::mt19937 rng(9);
  const int64_t n_rows = 13, n_cols = 288, nb = n_cols / 32;
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    testing::Weights w = make_weights(rng, t, n_rows, n_cols);
    if (t == DType::kQ8_0) {
      for (int64_t r = 0; r < n_rows; ++r) {
        auto* blocks = reinterpret_cast<BlockQ8_0*>(w.bytes.data() + r * w.stride);
        blocks[r % nb].qs[r % 32] = -128;
      }
    }
    for (int64_t n_batch : {1, 3, 8}) {
      std::vector<float> x = random_floats(rng, n_batch * n_cols);
      const size_t stride = ActRow::bytes(nb, true);
      std::vector<uint8_t> xq(stride * n_batch);
      for (int64_t b = 0; b < n_batch; ++b) {
        internal::scalar_table().quantize_act(x.data() + b * n_cols, n_cols, xq.data() + b * stride,
                                              internal::act_sum_scale(t));
      }
      std::vector<float> expect(n_batch * n_rows), y(n_batch * n_rows), ref(n_batch * n_rows);
      internal::GemmArgs a{t,      w.bytes.data(), w.stride,      n_cols, xq.data(),
                           stride, n_batch,        expect.data(), n_rows};
      variants[0](a, 0, n_rows);
      a.y = ref.data();
      internal::scalar_table().gemm(a, 0, n_rows);
      for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(expect[i], ref[i], 1e-4);
      for (size_t v = 1; v < variants.size(); ++v) {
        a.y = y.data();
        variants[v](a, 0, n_rows);
        ASSERT_TRUE(same_bits(expect, y)) << dtype_name(t) << " variant " << v;
      }
    }
  }
}
#endif

#if defined(__aarch64__)
// Runs a table's plain-layout gemm the way matvec/matmul do (quantizing activations with the
// table's own quantizer), over x [n_batch][n_cols].
std::vector<float> run_plain(const internal::KernelTable& kt, DType t, const testing::Weights& w,
                             int64_t n_rows, int64_t n_cols, const std::vector<float>& x,
                             int64_t n_batch, ThreadPool* pool) {
  std::vector<float> y(n_batch * n_rows, std::nanf(""));
  internal::GemmArgs a{t,       w.bytes.data(), w.stride, n_cols, x.data(), n_cols * sizeof(float),
                       n_batch, y.data(),       n_rows};
  if (internal::is_quantized(t)) {
    internal::run_quantized(kt, kt.gemm, a, n_rows, pool);
  } else {
    kt.gemm(a, 0, n_rows);
  }
  return y;
}

// NEON promises more than the tolerance of SIMD paths: the scalar reference's exact bits, in
// both of its variants, for every weight type, shape tail, batch size and thread count, and for
// the float helpers attention uses.
TEST(MatvecTest, NeonGivesTheScalarBits) {
  std::mt19937 rng(31);
  ThreadPool pool2(2), pool3(3);
  std::vector<const internal::KernelTable*> tables{&internal::neon_table(false)};
  if (internal::neon_has_dotprod()) tables.push_back(&internal::neon_table(true));
  int compared = 0;
  for (DType t : testing::kAllTypes) {
    for (int iter = 0; iter < 12; ++iter) {
      const int64_t n_rows = 1 + iter * 7 % 41;
      const int64_t n_cols =
          internal::is_quantized(t) ? 32 * (1 + iter * 5 % 19) : 1 + iter * 61 % 300;
      const int64_t n_batch = 1 + iter % 9;
      testing::Weights w = make_weights(rng, t, n_rows, n_cols);
      std::vector<float> x = random_floats(rng, n_batch * n_cols);
      const std::vector<float> want =
          run_plain(internal::scalar_table(), t, w, n_rows, n_cols, x, n_batch, nullptr);
      for (const internal::KernelTable* kt : tables) {
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2, &pool3}) {
          ASSERT_TRUE(same_bits(want, run_plain(*kt, t, w, n_rows, n_cols, x, n_batch, pool)))
              << dtype_name(t) << " " << n_rows << "x" << n_cols << " batch " << n_batch
              << (kt == tables[0] ? " baseline" : " dotprod");
          ++compared;
        }
      }
    }
  }
  for (int64_t n = 0; n < 70; ++n) {
    std::vector<float> a = random_floats(rng, n), b = random_floats(rng, n);
    for (const internal::KernelTable* kt : tables) {
      const float want = internal::scalar_table().dot_f32(a.data(), b.data(), n);
      const float got = kt->dot_f32(a.data(), b.data(), n);
      ASSERT_EQ(std::memcmp(&want, &got, sizeof(float)), 0) << "dot_f32 n " << n;
      std::vector<float> y_want = b, y_got = b;
      internal::scalar_table().axpy_f32(0.37f, a.data(), y_want.data(), n);
      kt->axpy_f32(0.37f, a.data(), y_got.data(), n);
      ASSERT_TRUE(same_bits(y_want, y_got)) << "axpy_f32 n " << n;
    }
  }
  std::printf("compared %d NEON products with the scalar reference (SDOT: %s)\n", compared,
              internal::neon_has_dotprod() ? "yes" : "no");
}

// SDOT is an internal speed-up of Isa::kNeon, so it must not change a single bit, and neither
// path may leave the scalar reference's. Weights include -128, and a whole block of it meets
// activations of -127: two such products fill the baseline path's 16-bit lanes. Runs on every
// ARM64 CPU; the SDOT path is compared where the CPU has it.
TEST(MatvecTest, NeonPathsGiveTheScalarBitsOnExtremeQuants) {
  std::mt19937 rng(32);
  const int64_t n_rows = 13, n_cols = 288, nb = n_cols / 32;
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    testing::Weights w = make_weights(rng, t, n_rows, n_cols);
    for (int64_t r = 0; r < n_rows; ++r) {
      if (t == DType::kQ8_0) {
        auto* blocks = reinterpret_cast<BlockQ8_0*>(w.bytes.data() + r * w.stride);
        blocks[r % nb].qs[r % 32] = -128;
        if (r < 2) {
          for (int e = 0; e < 32; ++e) blocks[1].qs[e] = r == 0 ? -128 : 127;
        }
      } else if (r < 2) {  // nibbles 0 (-8) and 15 (7)
        auto* blocks = reinterpret_cast<BlockQ4_0*>(w.bytes.data() + r * w.stride);
        for (int e = 0; e < 16; ++e) blocks[1].qs[e] = r == 0 ? 0x00 : 0xFF;
      }
    }
    for (int64_t n_batch : {1, 3, 8}) {
      std::vector<float> x = random_floats(rng, n_batch * n_cols);
      for (int64_t b = 0; b < n_batch; ++b) {  // block 1 quantizes to all -127 or all +127
        for (int e = 0; e < 32; ++e) x[b * n_cols + 32 + e] = b % 2 == 0 ? -1.0f : 1.0f;
      }
      const size_t stride = ActRow::bytes(nb, true);
      std::vector<uint8_t> xq(stride * n_batch);
      for (int64_t b = 0; b < n_batch; ++b) {
        internal::scalar_table().quantize_act(x.data() + b * n_cols, n_cols, xq.data() + b * stride,
                                              internal::act_sum_scale(t));
      }
      std::vector<float> ref(n_batch * n_rows), y(n_batch * n_rows);
      internal::GemmArgs a{t,      w.bytes.data(), w.stride,   n_cols, xq.data(),
                           stride, n_batch,        ref.data(), n_rows};
      internal::scalar_table().gemm(a, 0, n_rows);
      a.y = y.data();
      internal::neon_table(false).gemm(a, 0, n_rows);
      ASSERT_TRUE(same_bits(ref, y)) << dtype_name(t) << " baseline, batch " << n_batch;
      if (internal::neon_has_dotprod()) {
        internal::gemm_quant_neon_dotprod(a, 0, n_rows);
        ASSERT_TRUE(same_bits(ref, y)) << dtype_name(t) << " dotprod, batch " << n_batch;
      }
    }
  }
  std::printf("baseline path compared%s\n",
              internal::neon_has_dotprod() ? ", SDOT path compared" : "; no SDOT on this CPU");
}

// scripts/test_arm.sh runs the tests on emulated CPUs with and without the dot-product
// extension and says which it expects, so a detection that always answered the same would fail.
TEST(IsaTest, NeonDetectsDotprodAsExpected) {
  std::printf("NEON dot-product extension: %s\n", internal::neon_has_dotprod() ? "yes" : "no");
  const char* expect = std::getenv("LL_EXPECT_NEON_DOTPROD");
  if (expect == nullptr) GTEST_SKIP() << "LL_EXPECT_NEON_DOTPROD not set";
  EXPECT_EQ(internal::neon_has_dotprod(), std::strcmp(expect, "1") == 0);
  EXPECT_EQ(&internal::neon_table(), internal::neon_has_dotprod() ? &internal::neon_table(true)
                                                                  : &internal::neon_table(false));
}
#endif

TEST(IsaTest, NamesAndResolution) {
  EXPECT_STREQ(isa_name(Isa::kScalar), "scalar");
  EXPECT_STREQ(isa_name(Isa::kAvx2), "avx2");
  EXPECT_STREQ(isa_name(Isa::kNeon), "neon");
#if defined(__aarch64__)
  EXPECT_TRUE(isa_supported(Isa::kNeon));  // mandatory on AArch64
  EXPECT_FALSE(isa_supported(Isa::kAvx2));
  EXPECT_EQ(internal::table_for(Isa::kNeon).isa, Isa::kNeon);
  if (std::getenv("LL_ISA") == nullptr) EXPECT_EQ(best_isa(), Isa::kNeon);
#else
  EXPECT_FALSE(isa_supported(Isa::kNeon));
#endif
  EXPECT_TRUE(isa_supported(Isa::kScalar));
  EXPECT_TRUE(isa_supported(best_isa()));
  EXPECT_NE(best_isa(), Isa::kBest);
  EXPECT_EQ(resolve_isa(Isa::kBest), best_isa());
  if (!isa_supported(Isa::kNeon)) {
    EXPECT_EQ(resolve_isa(Isa::kNeon), Isa::kScalar);
  }
  EXPECT_EQ(internal::table_for(Isa::kScalar).isa, Isa::kScalar);
  EXPECT_EQ(internal::table_for(Isa::kBest).isa, best_isa());
}

}  // namespace
}  // namespace ll::kernels
