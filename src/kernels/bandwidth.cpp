#include "kernels/bandwidth.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "kernels/kernels_internal.h"
#include "kernels/packed.h"

namespace ll::kernels {

double measure_read_bandwidth_gbs(ThreadPool* pool, size_t bytes) {
  constexpr size_t kPage = 4096;
  constexpr int kReps = 4;
  bytes = bytes / kPage * kPage;
  if (bytes == 0) return 0.0;
  std::unique_ptr<uint8_t, decltype(&std::free)> buf(
      static_cast<uint8_t*>(std::aligned_alloc(kPage, bytes)), &std::free);
  if (!buf) return 0.0;
  advise_huge_pages(buf.get(), bytes);
  const internal::KernelTable& kt = internal::table_for(best_isa());
  const int n_threads = pool != nullptr ? pool->size() : 1;
  const int64_t n_pages = static_cast<int64_t>(bytes / kPage);
  // Each thread touches the pages it later reads, so on NUMA systems they are local to it.
  auto for_each_share = [&](auto fn) {
    auto body = [&](int64_t p0, int64_t p1, int thread_id) {
      fn(buf.get() + p0 * kPage, static_cast<size_t>(p1 - p0) * kPage, thread_id);
    };
    if (pool != nullptr) {
      pool->parallel_range(n_pages, body);
    } else {
      body(0, n_pages, 0);
    }
  };
  for_each_share([](uint8_t* p, size_t n, int) { std::memset(p, 1, n); });
  double best = 0.0;
  volatile uint64_t sink = 0;
  std::unique_ptr<uint64_t[]> partial(new uint64_t[n_threads * 8]());
  for (int rep = 0; rep < kReps; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    // Padded slots: threads must not share the cache line they write.
    for_each_share([&](uint8_t* p, size_t n, int t) { partial[t * 8] += kt.read_sum(p, n); });
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double gbs = static_cast<double>(bytes) / s * 1e-9;
    best = gbs > best ? gbs : best;
  }
  for (int t = 0; t < n_threads; ++t) sink = sink + partial[t * 8];
  return best;
}

}  // namespace ll::kernels
