// Packed quantized weights: the layout round-trips, every Isa (and its variants: VNNI and maddubs,
// SDOT and the NEON baseline) gives the scalar reference's exact bits for any batch size and thread
// count, and the results are accurate against a double-precision dot of the same quantized
// operands.
#include "kernels/packed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernels_internal.h"

namespace ll::kernels {
namespace {

using testing::make_weights;
using testing::random_floats;
using testing::same_bits;
using testing::test_isas;

constexpr DType kQuantTypes[] = {DType::kQ8_0, DType::kQ4_0};

struct Shape {
  int64_t rows, cols, batch;
};

Shape random_shape(std::mt19937& rng) {
  std::uniform_int_distribution<int64_t> groups(1, 12), blocks(1, 20), batch(1, 9);
  return {groups(rng) * kPackRows, blocks(rng) * 32, batch(rng)};
}

TEST(PackedTest, OnlyQuantizedMatricesWithWholeRowGroupsPack) {
  EXPECT_TRUE(packable(DType::kQ4_0, 8, 32));
  EXPECT_TRUE(packable(DType::kQ8_0, 4096, 2048));
  EXPECT_FALSE(packable(DType::kQ4_0, 12, 32));  // rows not a multiple of 8
  EXPECT_FALSE(packable(DType::kQ8_0, 8, 48));   // columns not whole blocks
  EXPECT_FALSE(packable(DType::kF16, 8, 32));    // float weights have their own kernels
  EXPECT_FALSE(packable(DType::kQ4_0, 0, 32));
}

TEST(PackedTest, EveryRowUnpacksToItsOriginalBytes) {
  std::mt19937 rng(11);
  for (DType t : kQuantTypes) {
    for (int iter = 0; iter < 20; ++iter) {
      Shape s = random_shape(rng);
      testing::Weights w = make_weights(rng, t, s.rows, s.cols);
      PackedMatrix p = PackedMatrix::pack(t, w.bytes.data(), s.rows, s.cols);
      ASSERT_EQ(p.bytes(), s.rows / kPackRows * packed_group_bytes(t, s.cols));
      std::vector<uint8_t> row(w.stride);
      for (int64_t r = 0; r < s.rows; ++r) {
        p.unpack_row(r, row.data());
        ASSERT_EQ(0, std::memcmp(row.data(), w.bytes.data() + r * w.stride, w.stride))
            << dtype_name(t) << " row " << r << " of " << s.rows << "x" << s.cols;
      }
    }
  }
}

// Runs gemm_packed from a given table directly (to reach the maddubs path on VNNI CPUs).
std::vector<float> run_table(const internal::KernelTable& kt, const PackedMatrix& p,
                             const std::vector<float>& x, int64_t batch, ThreadPool* pool) {
  // NaN, so a row no thread computed cannot pass.
  std::vector<float> y(batch * p.n_rows(), std::nanf(""));
  internal::GemmArgs a{p.type(),   p.data(), packed_group_bytes(p.type(), p.n_cols()),
                       p.n_cols(), x.data(), 0,
                       batch,      y.data(), p.n_rows()};
  a.stealable = internal::packed_stealable(p.n_rows(), batch);  // as matmul does
  internal::run_quantized(kt, kt.gemm_packed, a, p.n_rows(), pool);
  return y;
}

TEST(PackedTest, EveryIsaAndThreadCountGivesTheReferenceBits) {
  std::mt19937 rng(12);
  const std::vector<const internal::KernelTable*> tables = testing::packed_kernel_tables();
  ThreadPool pool2(2), pool3(3);
  int compared = 0;
  for (DType t : kQuantTypes) {
    for (int iter = 0; iter < 30; ++iter) {
      Shape s = random_shape(rng);
      testing::Weights w = make_weights(rng, t, s.rows, s.cols);
      PackedMatrix p = PackedMatrix::pack(t, w.bytes.data(), s.rows, s.cols);
      std::vector<float> x = random_floats(rng, s.batch * s.cols);
      const std::vector<float> want = run_table(internal::scalar_table(), p, x, s.batch, nullptr);
      for (const internal::KernelTable* kt : tables) {
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2, &pool3}) {
          ASSERT_TRUE(same_bits(want, run_table(*kt, p, x, s.batch, pool)))
              << dtype_name(t) << " " << isa_name(kt->isa) << " " << s.rows << "x" << s.cols
              << " batch " << s.batch << " threads " << (pool ? pool->size() : 1);
          ++compared;
        }
      }
      // The public entry point with the best Isa, too.
      std::vector<float> y(s.batch * s.rows);
      p.matmul(x.data(), s.batch, y.data(), &pool2);
      ASSERT_TRUE(same_bits(want, y)) << dtype_name(t) << " best Isa";
    }
  }
  std::printf("compared %d packed products across %zu kernel tables\n", compared, tables.size());
}

// Decode splits rows by work claims: a thread that finishes takes groups from the others'
// tails, so which thread computes a row depends on timing. The bits must not.
TEST(PackedTest, DecodeWithWorkStealingGivesTheReferenceBitsEveryTime) {
  std::mt19937 rng(16);
  const std::vector<const internal::KernelTable*> tables = testing::packed_kernel_tables();
  ThreadPool pool2(2), pool3(3);
  for (DType t : kQuantTypes) {
    const int64_t rows = 8 * 67, cols = 1024;  // 67 groups: shares of unequal length
    testing::Weights w = make_weights(rng, t, rows, cols);
    PackedMatrix p = PackedMatrix::pack(t, w.bytes.data(), rows, cols);
    std::vector<float> x = random_floats(rng, cols);
    const std::vector<float> want = run_table(internal::scalar_table(), p, x, 1, nullptr);
    for (const internal::KernelTable* kt : tables) {
      for (ThreadPool* pool : {&pool2, &pool3}) {
        for (int rep = 0; rep < 20; ++rep) {
          ASSERT_TRUE(same_bits(want, run_table(*kt, p, x, 1, pool)))
              << dtype_name(t) << " " << isa_name(kt->isa) << " threads " << pool->size() << " rep "
              << rep;
        }
      }
    }
  }
}

// Small batches (pipelined streams, up to kPackedStreamBatch rows) are streamed as decode is,
// with work claims: every batch size around the tile widths, on shares of unequal length and
// with the next product's prefetch, gives the reference bits every time.
TEST(PackedTest, SmallBatchesStreamedWithWorkStealingGiveTheReferenceBits) {
  std::mt19937 rng(18);
  const std::vector<const internal::KernelTable*> tables = testing::packed_kernel_tables();
  ThreadPool pool2(2), pool3(3);
  int streamed = 0;
  for (DType t : kQuantTypes) {
    const int64_t rows = 8 * 67, cols = 512;  // 67 groups: shares of unequal length
    testing::Weights w = make_weights(rng, t, rows, cols), wn = make_weights(rng, t, 16, cols);
    PackedMatrix p = PackedMatrix::pack(t, w.bytes.data(), rows, cols);
    PackedMatrix next = PackedMatrix::pack(t, wn.bytes.data(), 16, cols);
    for (int64_t batch : {2, 3, 4, 5, 7, 8, 9}) {
      std::vector<float> x = random_floats(rng, batch * cols);
      const std::vector<float> want = run_table(internal::scalar_table(), p, x, batch, nullptr);
      streamed += internal::packed_stealable(rows, batch);
      for (const internal::KernelTable* kt : tables) {
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2, &pool3}) {
          for (int rep = 0; rep < (pool ? 5 : 1); ++rep) {
            ASSERT_TRUE(same_bits(want, run_table(*kt, p, x, batch, pool)))
                << dtype_name(t) << " " << isa_name(kt->isa) << " batch " << batch << " threads "
                << (pool ? pool->size() : 1) << " rep " << rep;
          }
        }
      }
      std::vector<float> y(batch * rows, std::nanf(""));
      p.matmul(x.data(), batch, y.data(), &pool2, Isa::kBest, &next);
      ASSERT_TRUE(same_bits(want, y)) << dtype_name(t) << " best Isa, batch " << batch;
    }
  }
  EXPECT_EQ(streamed, 2 * 6);  // batches 2..8 of both types take the streamed path
}

// Quants at the ends of their ranges, where narrow intermediate sums (16-bit lanes in the
// maddubs and NEON baseline paths) come closest to overflowing: Q8_0 weights of -128 (which
// standard quantizers never emit but foreign files may) and 127, Q4_0 nibbles 0 and 15, times
// activations that quantize to +-127, in all-equal and mixed runs.
TEST(PackedTest, ExtremeQuantsGiveTheReferenceBitsOnEveryTable) {
  std::mt19937 rng(17);
  std::bernoulli_distribution coin(0.5);
  const int64_t rows = 32, cols = 256, nb = cols / 32, batch = 3;
  ThreadPool pool(2);
  for (DType t : kQuantTypes) {
    const size_t stride = row_bytes(t, cols);
    std::vector<uint8_t> bytes(stride * rows);
    for (int64_t r = 0; r < rows; ++r) {
      // Rows 8k: all low, 8k + 1: all high, others mixed; scales vary so rows differ.
      auto pick = [&](bool low) { return r % 8 == 0 || (r % 8 > 1 && low); };
      for (int64_t k = 0; k < nb; ++k) {
        const uint16_t d = fp32_to_fp16(0.001f * static_cast<float>(1 + (r * nb + k) % 17));
        if (t == DType::kQ8_0) {
          auto* blk = reinterpret_cast<BlockQ8_0*>(bytes.data() + r * stride) + k;
          blk->d = d;
          for (int e = 0; e < 32; ++e) blk->qs[e] = pick(coin(rng)) ? -128 : 127;
        } else {
          auto* blk = reinterpret_cast<BlockQ4_0*>(bytes.data() + r * stride) + k;
          blk->d = d;
          for (int e = 0; e < 16; ++e) {
            const int lo = pick(coin(rng)) ? 0 : 15, hi = pick(coin(rng)) ? 0 : 15;
            blk->qs[e] = static_cast<uint8_t>(hi << 4 | lo);
          }
        }
      }
    }
    PackedMatrix p = PackedMatrix::pack(t, bytes.data(), rows, cols);
    // Batch rows: all -1 (every activation quantizes to -127), all +1, then random signs.
    std::vector<float> x(batch * cols);
    for (int64_t i = 0; i < cols; ++i) {
      x[i] = -1.0f;
      x[cols + i] = 1.0f;
      x[2 * cols + i] = coin(rng) ? 1.0f : -1.0f;
    }
    for (int64_t n_batch : {int64_t{1}, batch}) {
      const std::vector<float> want = run_table(internal::scalar_table(), p, x, n_batch, nullptr);
      for (const internal::KernelTable* kt : testing::packed_kernel_tables()) {
        for (ThreadPool* pool_or_null : {static_cast<ThreadPool*>(nullptr), &pool}) {
          ASSERT_TRUE(same_bits(want, run_table(*kt, p, x, n_batch, pool_or_null)))
              << dtype_name(t) << " " << isa_name(kt->isa) << " batch " << n_batch;
        }
      }
    }
  }
}

TEST(PackedTest, EachBatchRowEqualsTheSingleRowProduct) {
  std::mt19937 rng(13);
  ThreadPool pool(2);
  for (DType t : kQuantTypes) {
    for (Isa isa : test_isas()) {
      const int64_t rows = 96, cols = 320;
      testing::Weights w = make_weights(rng, t, rows, cols);
      PackedMatrix p = PackedMatrix::pack(t, w.bytes.data(), rows, cols);
      // Streamed small batches, and one not a multiple of the tile blocked for the caches.
      for (int64_t batch : {2, 3, 4, 5, 13}) {
        std::vector<float> x = random_floats(rng, batch * cols), y(batch * rows), y1(rows);
        p.matmul(x.data(), batch, y.data(), &pool, isa);
        for (int64_t b = 0; b < batch; ++b) {
          p.matmul(x.data() + b * cols, 1, y1.data(), nullptr, isa);
          ASSERT_EQ(0, std::memcmp(y1.data(), y.data() + b * rows, rows * sizeof(float)))
              << dtype_name(t) << " " << isa_name(isa) << " batch " << batch << " row " << b;
        }
      }
    }
  }
}

TEST(PackedTest, StackedPartsGiveEachPartsOwnBits) {
  std::mt19937 rng(15);
  ThreadPool pool(2);
  for (DType t : kQuantTypes) {
    const int64_t cols = 256, batch = 3;
    const int64_t rows[] = {64, 16, 16};  // like Q, K and V
    std::vector<testing::Weights> ws;
    std::vector<PackedMatrix::Part> parts;
    for (int64_t r : rows) ws.push_back(make_weights(rng, t, r, cols));
    for (size_t i = 0; i < ws.size(); ++i) parts.push_back({ws[i].bytes.data(), rows[i]});
    PackedMatrix stacked = PackedMatrix::pack(t, parts, cols);
    ASSERT_EQ(stacked.n_rows(), 96);
    std::vector<float> x = random_floats(rng, batch * cols), y(batch * 96);
    stacked.matmul(x.data(), batch, y.data(), &pool);
    int64_t offset = 0;
    for (size_t i = 0; i < ws.size(); ++i) {
      PackedMatrix alone = PackedMatrix::pack(t, ws[i].bytes.data(), rows[i], cols);
      std::vector<float> y1(batch * rows[i]);
      alone.matmul(x.data(), batch, y1.data(), nullptr);
      for (int64_t b = 0; b < batch; ++b) {
        ASSERT_EQ(0, std::memcmp(y1.data() + b * rows[i], y.data() + b * 96 + offset,
                                 rows[i] * sizeof(float)))
            << dtype_name(t) << " part " << i << " batch row " << b;
      }
      offset += rows[i];
    }
  }
}

// Exact dot (in double) of the quantized weights with the quantized activations; the kernel
// rounds three times per block (product of scales, product, sum).
TEST(PackedTest, AccurateAgainstExactDotOfTheQuantizedOperands) {
  std::mt19937 rng(14);
  for (DType t : kQuantTypes) {
    const int64_t rows = 64, cols = 1024, nb = cols / 32;
    testing::Weights w = make_weights(rng, t, rows, cols);
    PackedMatrix p = PackedMatrix::pack(t, w.bytes.data(), rows, cols);
    std::vector<float> x = random_floats(rng, cols), y(rows), plain(rows);
    p.matmul(x.data(), 1, y.data(), nullptr);
    matvec(t, w.bytes.data(), rows, cols, x.data(), plain.data(), nullptr);
    std::vector<uint8_t> buf(internal::ActRow::bytes(nb, false));
    internal::scalar_table().quantize_act(x.data(), cols, buf.data(), 0);
    internal::ActRow xq = internal::ActRow::at(buf.data(), nb);
    const size_t bb = t == DType::kQ8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
    for (int64_t r = 0; r < rows; ++r) {
      double value = 0.0, magnitude = 0.0;
      for (int64_t k = 0; k < nb; ++k) {
        double dw = fp16_to_fp32(internal::load_u16(w.bytes.data() + r * w.stride + k * bb));
        double isum = 0.0;
        for (int e = 0; e < 32; ++e) {
          double q = dw != 0.0 ? w.values[r * cols + k * 32 + e] / dw : 0.0;
          isum += q * xq.qs[k * 32 + e];
        }
        value += dw * xq.d[k] * isum;
        magnitude += std::fabs(dw * xq.d[k] * isum);
      }
      const double tol = 1.01 * (3 * nb) * (1.0 / (1 << 24)) * magnitude + 1e-30;
      ASSERT_NEAR(y[r], value, tol) << dtype_name(t) << " row " << r;
      // The plain layout computes the same dot in another order.
      ASSERT_NEAR(y[r], plain[r], 2 * tol) << dtype_name(t) << " row " << r;
    }
  }
}

}  // namespace
}  // namespace ll::kernels
