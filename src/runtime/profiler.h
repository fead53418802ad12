// Measures this device for the planner: how fast our own kernels stream weights of each type
// (decode), matmul FLOP/s (prefill), elementwise speed, and the memory budget. Cached per
// device and thread count, so a restart does not re-measure.
#pragma once

#include <string>

#include "core/clock.h"
#include "plan/profile.h"
#include "runtime/throttle.h"

namespace ll::runtime {

struct ProfileOptions {
  int threads = 1;
  double mem_budget_bytes = 0;  // 0: available memory from the OS minus a safety margin
  std::string cache_dir;        // empty: no cache
  double seconds_per_type = 0.15;
  const Clock* clock = real_clock();  // measurement windows
  // An emulated slower device pays its toll around every timed kernel, so the profile is the
  // slowed device's (cached per initial speed).
  Throttle* throttle = nullptr;
  // Weight types to measure (the deployed model's); empty: every type of the table. A cached
  // profile gains the rates it lacks, so other models' types are measured once each.
  std::vector<DType> types;
};

Result<plan::DeviceProfile> profile_device(const std::string& name, const ProfileOptions& o);

// MemAvailable from /proc/meminfo (bytes), 0 when unknown.
double os_available_memory();

}  // namespace ll::runtime
