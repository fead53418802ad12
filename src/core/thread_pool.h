// A small fork-join pool tuned for many short parallel sections (a decode step runs ~50 of
// them per token), with a static split so which thread runs which task never depends on timing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace ll {

// Non-owning reference to a callable. Unlike std::function it never allocates, which matters
// when a lambda capturing several pointers is passed to parallel_for thousands of times a
// second. The referenced callable must outlive the call it is passed to.
template <typename Sig>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef> &&
                                                    std::is_invocable_r_v<R, F&, Args...>>>
  FunctionRef(F&& f)  // NOLINT: implicit so lambdas can be passed directly
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* obj, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(obj))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(obj_, std::forward<Args>(args)...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

class ThreadPool {
 public:
  // n_threads counts the calling thread: 1 runs everything inline without spawning threads;
  // <= 0 means one per hardware thread. Idle workers spin for spin_us microseconds after a
  // section ends (so back-to-back sections start fast) and then sleep, so an idle pool does
  // not burn a core that other processes may need.
  explicit ThreadPool(int n_threads, int spin_us = 100);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // CPU seconds run by the pool's own threads (not the callers'), spinning included.
  double workers_cpu_s() const;

  // Runs fn(task, thread_id) for each task in [0, n_tasks) and blocks until all are done.
  // Thread t (0 = caller) runs the contiguous tasks split_range(n_tasks, size(), t), in order.
  // fn must not throw. Concurrent callers are serialized; a nested call from inside a task
  // runs inline on the current thread (with the current thread_id).
  void parallel_for(int64_t n_tasks, FunctionRef<void(int64_t task, int thread_id)> fn);

  // Same split, but one call per thread for its whole range [begin, end); threads with an
  // empty range are not called. Cheaper than parallel_for when tasks are tiny.
  void parallel_range(int64_t n, FunctionRef<void(int64_t begin, int64_t end, int thread_id)> fn);

  // The static split used above: part t of n items divided into n_parts near-equal ranges.
  static std::pair<int64_t, int64_t> split_range(int64_t n, int n_parts, int part) {
    return {n * part / n_parts, n * (part + 1) / n_parts};
  }

 private:
  using RangeFn = FunctionRef<void(int64_t, int64_t, int)>;

  void worker_main(int thread_id);
  void run_share(int thread_id);
  void wait_workers_done();

  int n_threads_;
  int spin_us_;
  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // serializes concurrent callers

  // Current section; written by the caller before generation_ is bumped.
  const RangeFn* job_ = nullptr;
  int64_t job_n_ = 0;

  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};  // workers still running the current section
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_waiting_{false};
  std::atomic<bool> stop_{false};
  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  std::mutex done_mutex_;
  std::condition_variable done_cv_;
};

}  // namespace ll
