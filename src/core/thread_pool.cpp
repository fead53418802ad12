#include "core/thread_pool.h"

#include <pthread.h>
#include <time.h>

#include <chrono>

namespace ll {
namespace {

// Set while a thread runs a section of a pool, so nested calls run inline instead of
// deadlocking on call_mutex_.
thread_local const ThreadPool* tls_active_pool = nullptr;
thread_local int tls_thread_id = 0;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

// Spins until pred() holds or budget_us elapses; true if pred() held. The clock is read only
// every 64 polls because it costs far more than a poll.
template <typename Pred>
bool spin_until(Pred pred, int budget_us) {
  if (pred()) return true;
  if (budget_us <= 0) return false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(budget_us);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return pred();
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads, int spin_us) : spin_us_(spin_us) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::thread::hardware_concurrency());
  n_threads_ = n_threads < 1 ? 1 : n_threads;
  workers_.reserve(n_threads_ - 1);
  for (int t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker_main(t); });
}

double ThreadPool::workers_cpu_s() const {
  double s = 0;
  for (const std::thread& t : workers_) {
    clockid_t id;
    timespec ts;
    // const_cast: native_handle() is non-const, but reading the thread's clock changes nothing.
    if (pthread_getcpuclockid(const_cast<std::thread&>(t).native_handle(), &id) != 0) continue;
    if (clock_gettime(id, &ts) != 0) continue;
    s += static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  return s;
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
    wake_cv_.notify_all();
  }
  for (auto& w : workers_) w.join();
}

void ThreadPool::parallel_for(int64_t n_tasks, FunctionRef<void(int64_t, int)> fn) {
  parallel_range(n_tasks, [&fn](int64_t begin, int64_t end, int thread_id) {
    for (int64_t i = begin; i < end; ++i) fn(i, thread_id);
  });
}

void ThreadPool::parallel_range(int64_t n, RangeFn fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || tls_active_pool == this) {
    fn(0, n, tls_active_pool == this ? tls_thread_id : 0);
    return;
  }
  std::lock_guard<std::mutex> call_lock(call_mutex_);
  job_ = &fn;
  job_n_ = n;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  // seq_cst pairs with the worker's sleepers_ increment: either we see the sleeper and wake
  // it, or it sees the new generation before it blocks.
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    wake_cv_.notify_all();
  }
  run_share(0);
  wait_workers_done();
  job_ = nullptr;
}

void ThreadPool::run_share(int thread_id) {
  auto [begin, end] = split_range(job_n_, n_threads_, thread_id);
  if (begin >= end) return;
  const ThreadPool* outer_pool = tls_active_pool;
  int outer_id = tls_thread_id;
  tls_active_pool = this;
  tls_thread_id = thread_id;
  (*job_)(begin, end, thread_id);
  tls_active_pool = outer_pool;
  tls_thread_id = outer_id;
}

void ThreadPool::wait_workers_done() {
  auto done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (spin_until(done, spin_us_)) return;
  std::unique_lock<std::mutex> lock(done_mutex_);
  // An exchange rather than a store: the same seq_cst order for C++, but a store followed by
  // the load below is not kept in order by qemu-user on x86 hosts (it fences before STLR and
  // after LDAR, never between them), and the ARM64 kernel tests run there; a lost wake-up would
  // hang them. Read-modify-writes are locked host instructions. This is the sleeping path only.
  caller_waiting_.exchange(true, std::memory_order_seq_cst);
  while (pending_.load(std::memory_order_seq_cst) != 0) done_cv_.wait(lock);
  caller_waiting_.store(false, std::memory_order_relaxed);
}

void ThreadPool::worker_main(int thread_id) {
  uint64_t seen = 0;
  for (;;) {
    auto changed = [&] { return generation_.load(std::memory_order_acquire) != seen; };
    if (!spin_until(changed, spin_us_)) {
      std::unique_lock<std::mutex> lock(wake_mutex_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      while (generation_.load(std::memory_order_seq_cst) == seen) wake_cv_.wait(lock);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    run_share(thread_id);
    // seq_cst pairs with caller_waiting_ in wait_workers_done (same reasoning as sleepers_).
    if (pending_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        caller_waiting_.load(std::memory_order_seq_cst)) {
      // Notify under the lock: once the caller can observe completion it may destroy the pool.
      std::lock_guard<std::mutex> lock(done_mutex_);
      done_cv_.notify_one();
    }
  }
}

}  // namespace ll
