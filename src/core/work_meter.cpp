#include "core/work_meter.h"

#include <algorithm>

#include "core/clock.h"

namespace ll {

WorkMeter::WorkMeter(const ThreadPool* pool)
    : pool_(pool),
      wall0_(mono_now_s()),
      caller0_(thread_cpu_s()),
      workers0_(pool ? pool->workers_cpu_s() : 0.0) {}

double WorkMeter::wall_s() const {
  return mono_now_s() - wall0_;
}

double WorkMeter::work_s() const {
  const double wall = wall_s();
  const double caller = thread_cpu_s();
  // A running thread has used some CPU: 0 means the clock is unavailable, and then the wall
  // time is the only measure (an emulated device is never made faster than its speed).
  if (caller0_ <= 0 || caller <= 0) return wall;
  const int n = pool_ ? pool_->size() : 1;
  const double workers = pool_ ? pool_->workers_cpu_s() - workers0_ : 0.0;
  // The caller runs the serial parts and its share of the parallel ones, so its CPU time is
  // a lower bound of the work (dividing everything by n would charge serial code 1/n).
  const double work = std::max(caller - caller0_, (caller - caller0_ + workers) / n);
  return std::clamp(work, 0.0, wall);
}

}  // namespace ll
