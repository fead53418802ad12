// What a piece of work costs this machine when it has the cores it asked for.
//
// The local emulator runs several devices on one machine, often on fewer cores than devices.
// When they all compute at once a device's wall time also counts the time it waited for a
// core, so an emulated slow device (runtime/throttle.h), which idles in proportion to its
// work, would multiply that wait by 1/speed. CPU time does not count the wait: the work of a
// pass is the CPU time of the calling thread and of the pool's threads spread over the pool's
// size, at least the calling thread's own (it runs the serial parts), and never more than the
// wall time (a pool that spins while it waits would otherwise count double). Without a CPU
// clock it is the wall time.
#pragma once

#include "core/thread_pool.h"

namespace ll {

class WorkMeter {
 public:
  // pool may be null: the work runs on the calling thread alone.
  explicit WorkMeter(const ThreadPool* pool);
  double wall_s() const;  // since construction
  double work_s() const;  // since construction, see above

 private:
  const ThreadPool* pool_;
  double wall0_;
  double caller0_;   // the calling thread's CPU seconds at construction
  double workers0_;  // the pool's threads' CPU seconds at construction
};

}  // namespace ll
