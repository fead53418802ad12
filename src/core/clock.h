// Time as a side effect behind a small interface (as leveldb's Env): code that measures or
// waits asks a Clock, so tests can swap in a FakeClock and make deadlines expire without
// waiting for them. Seconds as double on a monotonic time line; 0 is arbitrary.
#pragma once

#include <atomic>

namespace ll {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now_s() const = 0;
};

// The steady clock of the process. Never null, never destroyed.
Clock* real_clock();

// Shorthand for real_clock()->now_s(), for code that only measures durations.
double mono_now_s();

// CPU seconds the calling thread has run (CLOCK_THREAD_CPUTIME_ID): unlike wall time, not
// stretched while the thread waits for a core another process holds.
double thread_cpu_s();

// Time moves only when a test says so. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(double start_s = 1000.0) : t_(start_s) {}
  double now_s() const override { return t_.load(std::memory_order_acquire); }
  void advance(double dt_s);
  void set(double t_s) { t_.store(t_s, std::memory_order_release); }

 private:
  std::atomic<double> t_;
};

// A point in time on a clock: deadlines for every wait in runtime and net.
class Deadline {
 public:
  Deadline(const Clock* clock, double timeout_s)
      : clock_(clock), at_s_(clock->now_s() + timeout_s) {}
  double left_s() const {
    const double l = at_s_ - clock_->now_s();
    return l > 0 ? l : 0;
  }
  bool expired() const { return clock_->now_s() >= at_s_; }

 private:
  const Clock* clock_;
  double at_s_;
};

}  // namespace ll
