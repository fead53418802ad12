// Emulated device speed (docs/cluster.md "speed"): every forward pass of a device at speed s
// takes 1/s as long as it does on this machine, for one stream and for many.
//
// The mechanism is a measured duty cycle around each pass: a pass whose work is t seconds is
// followed by idling until t/s seconds have passed since it started, *before its outputs
// leave*, so the next device sees the pass end at t/s, and this device cannot start its next
// pass earlier either (its passes are serial). The work t is the pass's CPU time
// (core/work_meter.h), not its wall time: the emulated devices share this machine's few cores,
// and a pass that waited for a core would otherwise have its wait multiplied by 1/s (with 8
// streams on phones3 the slow phones' stages were stretched by whatever the others computed).
// Oversleeping is measured and credited to the next pass, so the long-run ratio holds to the
// clock's resolution. Why not a cgroup cpu quota (what `cpu_share` was): a quota caps the *average*
// CPU use over its period (100 ms), so a single stream whose passes are shorter than the period and
// leave the CPU idle in between never reaches the cap and runs at full speed; a fine period costs
// scheduler overhead and still slows only CPU time, not a pass that waits on memory. The duty cycle
// slows wall time, which is what a slower phone has.
//
// The profiler pays the same toll around every timed kernel (ProfileOptions::throttle), so the
// planner sees the slowed device as it would a real one.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/device_node.h"

namespace ll::runtime {

struct SpeedStep {
  double at_s = 0;   // seconds after the device's first forward pass of a deployment
  double speed = 1;  // 0 < speed <= 1 from then on
};

class Throttle {
 public:
  Throttle() = default;
  Throttle(double speed, std::vector<SpeedStep> schedule);
  // Checks 0 < speed <= 1 and a schedule in increasing at_s; `what` names the field.
  static Status validate(double speed, const std::vector<SpeedStep>& schedule,
                         const std::string& what);

  bool active() const { return speed_ < 1 || !schedule_.empty(); }
  double speed() const { return speed_; }  // the initial speed (before the schedule starts)
  // Speed at this moment; the schedule's clock starts at the first call of start_schedule().
  double speed_now() const;
  void start_schedule();
  // Call after work that took `wall_s` seconds and would have taken `work_s` on this
  // machine's idle cores (core/work_meter.h): idles so that it has cost work_s / speed.
  // Returns the seconds idled.
  double pay(double work_s, double wall_s);
  // Seconds idled for forward passes (ThrottledOutbox), not for the profiler: with the node's
  // busy time, the emulated device's stage time.
  double passes_paid_s() const { return passes_paid_s_; }
  void add_pass_payment(double s) { passes_paid_s_ += s; }

 private:
  double speed_ = 1;
  std::vector<SpeedStep> schedule_;
  double schedule_t0_ = -1;  // monotonic seconds; < 0 until started
  double credit_s_ = 0;      // oversleep of earlier payments, owed back
  double passes_paid_s_ = 0;
};

// "10:0.3,20:1" (at_s:speed pairs) -> steps; errors name the bad pair.
Result<std::vector<SpeedStep>> parse_speed_schedule(const std::string& text);

// An Outbox that pays a node's forward pass to the throttle before the pass's first message
// leaves: the work is the growth of node.work_s() (and the wall time of busy_s()) since the
// last message.
class ThrottledOutbox : public Outbox {
 public:
  ThrottledOutbox(Outbox* inner, const DeviceNode* node, Throttle* throttle)
      : inner_(inner),
        node_(node),
        throttle_(throttle),
        last_busy_s_(node->busy_s()),
        last_work_s_(node->work_s()) {}
  Status send_tensors(int to, uint32_t step, const graph::Batch& batch,
                      std::vector<std::pair<int, std::vector<float>>> tensors) override;
  Status send_token(int32_t seq, uint32_t step, int32_t token, uint64_t rng_state) override;
  Status send_scores(int32_t seq, uint32_t step, std::vector<double> log_probs) override;

 private:
  void settle();
  Outbox* inner_;
  const DeviceNode* node_;
  Throttle* throttle_;
  double last_busy_s_;
  double last_work_s_;
};

}  // namespace ll::runtime
