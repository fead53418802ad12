// Kernel throughput: matvec (decode) and matmul (prefill) per weight type and thread count,
// against the machine's measured read bandwidth.
//
// "Hot" benchmarks reuse one matrix, which may stay in a large last-level cache; "Cold" ones
// walk a ~1 GiB stack of 2048x2048 matrices like a decode step walks a 1B-parameter model,
// so they measure what DRAM bandwidth allows. Compare Cold GB/s with BM_ReadBandwidth.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "core/types.h"
#include "kernels/bandwidth.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "kernels/packed.h"

namespace ll::kernels {
namespace {

ThreadPool* pool_for(int n_threads) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  auto& p = pools[n_threads];
  if (!p) p = std::make_unique<ThreadPool>(n_threads);
  return p.get();
}

DType type_arg(int64_t v) {
  return static_cast<DType>(static_cast<uint32_t>(v));
}

// Weights with realistic values (quantized from random floats).
std::vector<uint8_t> make_matrix(DType t, int64_t n_rows, int64_t n_cols) {
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  size_t stride = row_bytes(t, n_cols);
  std::vector<uint8_t> w(stride * n_rows);
  std::vector<float> row(n_cols);
  for (int64_t r = 0; r < n_rows; ++r) {
    for (auto& v : row) v = dist(rng);
    quantize_row(t, row.data(), w.data() + r * stride, n_cols);
  }
  return w;
}

std::vector<float> make_input(int64_t n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

// Args: type, rows, cols, threads.
void BM_Matvec(benchmark::State& state) {
  DType t = type_arg(state.range(0));
  int64_t rows = state.range(1), cols = state.range(2);
  ThreadPool* pool = pool_for(static_cast<int>(state.range(3)));
  std::vector<uint8_t> w = make_matrix(t, rows, cols);
  std::vector<float> x = make_input(cols), y(rows);
  for (auto _ : state) {
    matvec(t, w.data(), rows, cols, x.data(), y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()));
  state.SetLabel(std::string(dtype_name(t)) + " " + isa_name(best_isa()));
}

// Args: type, threads. Each iteration is one 2048x2048 matvec on the next matrix of the stack.
void BM_MatvecCold(benchmark::State& state) {
  DType t = type_arg(state.range(0));
  ThreadPool* pool = pool_for(static_cast<int>(state.range(1)));
  constexpr int64_t kDim = 2048;
  const size_t matrix_bytes = row_bytes(t, kDim) * kDim;
  const size_t n_mats = (size_t{1} << 30) / matrix_bytes;
  // Random bytes are valid quants; only the fp16 block scales need patching. Far faster than
  // quantizing a gigabyte of floats.
  std::unique_ptr<uint8_t[]> stack(new uint8_t[n_mats * matrix_bytes]);
  std::mt19937_64 rng(3);
  for (size_t i = 0; i + 8 <= n_mats * matrix_bytes; i += 8) {
    uint64_t v = rng();
    std::memcpy(stack.get() + i, &v, 8);
  }
  const size_t block = t == DType::kQ8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  const uint16_t d = fp32_to_fp16(0.001f);
  for (size_t off = 0; off + block <= n_mats * matrix_bytes; off += block) {
    std::memcpy(stack.get() + off, &d, 2);
  }
  std::vector<float> x = make_input(kDim), y(kDim);
  size_t i = 0;
  for (auto _ : state) {
    matvec(t, stack.get() + (i++ % n_mats) * matrix_bytes, kDim, kDim, x.data(), y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(matrix_bytes));
  // Decode speed for this matrix, comparable with BM_Matmul's prefill tok/s.
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel(std::string(dtype_name(t)) + " " + isa_name(best_isa()));
}

// Args: type, rows, cols, threads; batch 128. tok/s counts batch rows (prompt tokens).
void BM_Matmul(benchmark::State& state) {
  constexpr int64_t kBatch = 128;
  DType t = type_arg(state.range(0));
  int64_t rows = state.range(1), cols = state.range(2);
  ThreadPool* pool = pool_for(static_cast<int>(state.range(3)));
  std::vector<uint8_t> w = make_matrix(t, rows, cols);
  std::vector<float> x = make_input(kBatch * cols), y(kBatch * rows);
  for (auto _ : state) {
    matmul(t, w.data(), rows, cols, x.data(), kBatch, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()));
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                                               benchmark::Counter::kIsRate);
  state.SetLabel(std::string(dtype_name(t)) + " " + isa_name(best_isa()));
}

// The packed layout (what the engine runs for Q8_0/Q4_0/Q4_K/Q6_K): args and counters as above.
void BM_PackedMatvec(benchmark::State& state) {
  DType t = type_arg(state.range(0));
  int64_t rows = state.range(1), cols = state.range(2);
  ThreadPool* pool = pool_for(static_cast<int>(state.range(3)));
  std::vector<uint8_t> w = make_matrix(t, rows, cols);
  PackedMatrix p = PackedMatrix::pack(t, w.data(), rows, cols);
  std::vector<float> x = make_input(cols), y(rows);
  for (auto _ : state) {
    p.matmul(x.data(), 1, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()));
  state.SetLabel(std::string(dtype_name(t)) + " packed " + isa_name(best_isa()));
}

void BM_PackedMatvecCold(benchmark::State& state) {
  DType t = type_arg(state.range(0));
  ThreadPool* pool = pool_for(static_cast<int>(state.range(1)));
  constexpr int64_t kDim = 2048;
  std::vector<uint8_t> w = make_matrix(t, kDim, kDim);
  const size_t n_mats = (size_t{1} << 30) / w.size();
  std::vector<PackedMatrix> stack;
  for (size_t i = 0; i < n_mats; ++i) stack.push_back(PackedMatrix::pack(t, w.data(), kDim, kDim));
  std::vector<float> x = make_input(kDim), y(kDim);
  size_t i = 0;
  for (auto _ : state) {
    // As the engine does: each product knows the next.
    const PackedMatrix& next = stack[(i + 1) % n_mats];
    stack[i++ % n_mats].matmul(x.data(), 1, y.data(), pool, Isa::kBest, &next);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()));
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel(std::string(dtype_name(t)) + " packed " + isa_name(best_isa()));
}

void BM_PackedMatmul(benchmark::State& state) {
  constexpr int64_t kBatch = 128;
  DType t = type_arg(state.range(0));
  int64_t rows = state.range(1), cols = state.range(2);
  ThreadPool* pool = pool_for(static_cast<int>(state.range(3)));
  std::vector<uint8_t> w = make_matrix(t, rows, cols);
  PackedMatrix p = PackedMatrix::pack(t, w.data(), rows, cols);
  std::vector<float> x = make_input(kBatch * cols), y(kBatch * rows);
  for (auto _ : state) {
    p.matmul(x.data(), kBatch, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()));
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                                               benchmark::Counter::kIsRate);
  state.SetLabel(std::string(dtype_name(t)) + " packed " + isa_name(best_isa()));
}

// Small batches of pipelined streams (runtime/profiler.cpp's decode probe): n rows share one
// read of a packed matrix. Args: type, batch rows, threads, MiB of weights (128: streamed from
// DRAM, as the profiler measures; 2: in the caches, so the kernels' compute alone). Compare the
// time per pass with batch 1's: a batch whose weights are reused costs less than batch x 1 row.
void BM_PackedSmallBatch(benchmark::State& state) {
  DType t = type_arg(state.range(0));
  const int64_t batch = state.range(1), cols = 2048;
  ThreadPool* pool = pool_for(static_cast<int>(state.range(2)));
  // One matrix per type for every (batch, threads): packing 128 MiB costs more than a run.
  static std::map<std::pair<DType, int64_t>, PackedMatrix> mats;
  PackedMatrix& p = mats[{t, state.range(3)}];
  if (p.n_rows() == 0) {
    const int64_t rows = (state.range(3) << 20) / static_cast<int64_t>(row_bytes(t, cols)) / 8 * 8;
    std::vector<uint8_t> w = make_matrix(t, 8, cols);  // [8][cols] in t, repeated
    std::vector<uint8_t> all(w.size() * (rows / 8));   // [rows][cols] in t
    for (int64_t g = 0; g < rows / 8; ++g)
      std::memcpy(all.data() + g * w.size(), w.data(), w.size());
    p = PackedMatrix::pack(t, all.data(), rows, cols);
  }
  std::vector<float> x = make_input(batch * cols), y(batch * p.n_rows());
  for (auto _ : state) {
    p.matmul(x.data(), batch, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(p.bytes()));
  state.SetLabel(std::string(dtype_name(t)) + " packed " + isa_name(best_isa()));
}

// The same over each packed kernel this CPU can run (AVX2 maddubs, AVX-VNNI, AVX512-VNNI with
// 256- or 512-bit vectors), one thread. Args: type, batch rows, variant index, MiB (as above).
void BM_PackedSmallBatchVariant(benchmark::State& state) {
#if defined(__x86_64__)
  DType t = type_arg(state.range(0));
  const int64_t batch = state.range(1), cols = 2048;
  const auto variants = internal::packed_gemm_variants();
  if (static_cast<size_t>(state.range(2)) >= variants.size()) {
    state.SkipWithError("no such variant on this CPU");
    return;
  }
  auto [name, fn] = variants[state.range(2)];
  const int64_t rows = (state.range(3) << 20) / static_cast<int64_t>(row_bytes(t, cols)) / 8 * 8;
  std::vector<uint8_t> w = make_matrix(t, 8, cols);  // [8][cols] in t, repeated
  std::vector<uint8_t> all(w.size() * (rows / 8));   // [rows][cols] in t
  for (int64_t g = 0; g < rows / 8; ++g) std::memcpy(all.data() + g * w.size(), w.data(), w.size());
  PackedMatrix p = PackedMatrix::pack(t, all.data(), rows, cols);
  std::vector<uint8_t>().swap(all);
  std::vector<float> x = make_input(batch * cols), y(batch * rows);
  const internal::KernelTable& kt = internal::table_for(Isa::kAvx2);
  for (auto _ : state) {
    internal::GemmArgs a{t,        p.data(), packed_group_bytes(t, cols), cols, x.data(), 0, batch,
                         y.data(), rows};
    internal::run_quantized(kt, fn, a, rows, nullptr);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(p.bytes()));
  state.SetLabel(std::string(dtype_name(t)) + " packed " + name);
#else
  state.SkipWithError("x86-64 only");
#endif
}

void BM_ReadBandwidth(benchmark::State& state) {
  ThreadPool* pool = pool_for(static_cast<int>(state.range(0)));
  double gbs = 0.0;
  for (auto _ : state) gbs = measure_read_bandwidth_gbs(pool);
  state.counters["GB/s"] = gbs;
}

// Fork-join latency of an empty section: paid ~50 times per decoded token.
void BM_PoolDispatch(benchmark::State& state) {
  ThreadPool* pool = pool_for(static_cast<int>(state.range(0)));
  std::vector<int64_t> sink(pool->size() * 8);
  for (auto _ : state) {
    pool->parallel_range(pool->size(), [&](int64_t b, int64_t, int t) { sink[t * 8] += b; });
  }
  benchmark::DoNotOptimize(sink.data());
}

constexpr int64_t kTypes[] = {0, 1, 30, 8, 2};  // F32, F16, BF16, Q8_0, Q4_0

void matvec_args(benchmark::internal::Benchmark* b) {
  for (int64_t t : kTypes) {
    for (int64_t rows : {2048, 5632}) {
      for (int64_t threads : {1, 2}) b->Args({t, rows, 2048, threads});
    }
  }
}

void matmul_args(benchmark::internal::Benchmark* b) {
  for (int64_t t : kTypes) {
    for (int64_t threads : {1, 2}) b->Args({t, 2048, 2048, threads});
  }
}

BENCHMARK(BM_ReadBandwidth)
    ->Arg(1)
    ->Arg(2)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PoolDispatch)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_Matvec)
    ->Apply(matvec_args)
    ->MinTime(0.2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MatvecCold)
    ->ArgsProduct({{8, 2}, {1, 2}})
    ->MinTime(0.5)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Matmul)
    ->Apply(matmul_args)
    ->MinTime(0.2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PackedMatvec)
    ->ArgsProduct({{8, 2, 12, 14}, {512, 2048, 5632}, {2048}, {1, 2}})
    ->MinTime(0.2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PackedMatvecCold)
    ->ArgsProduct({{8, 2, 12, 14}, {1, 2}})
    ->MinTime(0.5)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PackedSmallBatch)
    ->ArgsProduct({{8, 2, 12, 14}, {1, 2, 3, 4, 8}, {1, 2}, {128, 2}})
    ->MinTime(0.3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PackedSmallBatchVariant)
    ->ArgsProduct({{8, 2}, {1, 4}, {0, 1, 2, 3}, {128, 2}})
    ->MinTime(0.3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PackedMatmul)
    ->ArgsProduct({{8, 2, 12, 14}, {2048}, {2048}, {1, 2}})
    ->MinTime(0.2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ll::kernels

BENCHMARK_MAIN();
