#include "core/clock.h"

#include <time.h>

#include <chrono>

namespace ll {

namespace {
class SteadyClock : public Clock {
 public:
  double now_s() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};
}  // namespace

Clock* real_clock() {
  static SteadyClock clock;
  return &clock;
}

double mono_now_s() {
  return real_clock()->now_s();
}

double thread_cpu_s() {
  timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void FakeClock::advance(double dt_s) {
  double t = t_.load(std::memory_order_acquire);
  while (!t_.compare_exchange_weak(t, t + dt_s, std::memory_order_acq_rel)) {
  }
}

}  // namespace ll
