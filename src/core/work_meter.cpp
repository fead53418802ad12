#include "core/work_meter.h"

#include <algorithm>

#include "core/clock.h"

namespace ll {

WorkMeter::WorkMeter(const ThreadPool* pool)
    : pool_(pool), wall0_(mono_now_s()), cpu0_(cpu_now()) {}

double WorkMeter::cpu_now() const {
  return thread_cpu_s() + (pool_ ? pool_->workers_cpu_s() : 0.0);
}

double WorkMeter::wall_s() const {
  return mono_now_s() - wall0_;
}

double WorkMeter::work_s() const {
  const int n = pool_ ? pool_->size() : 1;
  const double work = (cpu_now() - cpu0_) / n;
  return std::clamp(work, 0.0, wall_s());
}

}  // namespace ll
