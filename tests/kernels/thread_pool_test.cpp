#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace ll {
namespace {

TEST(ThreadPoolTest, RunsEveryTaskOnceOnItsStaticThread) {
  for (int n_threads : {1, 2, 3}) {
    ThreadPool pool(n_threads);
    EXPECT_EQ(pool.size(), n_threads);
    for (int64_t n_tasks : {0, 1, 2, 5, 64, 1001}) {
      std::vector<int> runs(n_tasks, 0), owner(n_tasks, -1);
      pool.parallel_for(n_tasks, [&](int64_t task, int thread_id) {
        ++runs[task];
        owner[task] = thread_id;
      });
      for (int64_t t = 0; t < n_tasks; ++t) {
        ASSERT_EQ(runs[t], 1) << "task " << t;
        ASSERT_GE(owner[t], 0);
        ASSERT_LT(owner[t], n_threads);
        auto [b, e] = ThreadPool::split_range(n_tasks, n_threads, owner[t]);
        ASSERT_TRUE(t >= b && t < e) << "task " << t << " ran on thread " << owner[t];
      }
    }
  }
}

TEST(ThreadPoolTest, SplitRangeCoversEverythingInOrder) {
  for (int64_t n : {0, 1, 7, 100}) {
    for (int parts : {1, 2, 3, 8}) {
      int64_t expect = 0;
      for (int p = 0; p < parts; ++p) {
        auto [b, e] = ThreadPool::split_range(n, parts, p);
        EXPECT_EQ(b, expect);
        EXPECT_LE(b, e);
        expect = e;
      }
      EXPECT_EQ(expect, n);
    }
  }
}

TEST(ThreadPoolTest, RangesAreDisjointAndUseAllThreads) {
  ThreadPool pool(3);
  std::vector<int> hits(30, 0);
  std::atomic<int> calls{0};
  pool.parallel_range(30, [&](int64_t b, int64_t e, int) {
    calls.fetch_add(1);
    for (int64_t i = b; i < e; ++i) ++hits[i];
  });
  EXPECT_EQ(calls.load(), 3);
  for (int h : hits) EXPECT_EQ(h, 1);
}

TEST(ThreadPoolTest, ManyBackToBackSectionsAndSleepingWorkers) {
  ThreadPool pool(2, /*spin_us=*/50);
  int64_t total = 0;
  std::vector<int64_t> part(2, 0);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 2000; ++i) {
      pool.parallel_for(2, [&](int64_t task, int thread_id) { part[thread_id] += task + 1; });
    }
    // Long enough for workers to stop spinning and block; the next section must wake them.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  total = part[0] + part[1];
  EXPECT_EQ(total, 3 * 2000 * 3);
  EXPECT_EQ(part[0], 3 * 2000 * 1);
}

TEST(ThreadPoolTest, NestedCallRunsInline) {
  ThreadPool pool(2);
  std::vector<std::atomic<int>> hits(8);
  pool.parallel_for(2, [&](int64_t outer, int thread_id) {
    pool.parallel_for(4, [&](int64_t inner, int inner_thread) {
      EXPECT_EQ(inner_thread, thread_id);
      hits[outer * 4 + inner].fetch_add(1);
    });
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPoolTest, ConcurrentCallersAreSerialized) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  auto caller = [&] {
    for (int i = 0; i < 300; ++i) pool.parallel_for(10, [&](int64_t t, int) { sum += t; });
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  EXPECT_EQ(sum.load(), 2 * 300 * 45);
}

}  // namespace
}  // namespace ll
