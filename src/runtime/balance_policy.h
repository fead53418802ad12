// When to move work between devices (docs/balance.md): the planner's predicted value of the
// current layout under the devices' live speeds is compared with the best layout's. A move
// happens only when the best is better by a margin for a whole window (in time or in forward
// passes) and a cooldown has passed since the last move, so measurement noise never makes the
// ring flap. Pure logic over a clock value, so tests drive it with made-up measurements.
#pragma once

#include <cstdint>

namespace ll::runtime {

struct BalanceOptions {
  double margin = 0.15;  // the best layout must be this much better (relative)
  // ... for this long or this many forward passes, whichever comes first (fast passes decide
  // within a tick or two; a large model's few passes still decide within 2 s)
  double window_s = 2.0;
  uint64_t window_passes = 32;
  double cooldown_s = 10.0;  // after a move, no other for this long ...
  // ... unless the best is better by this much (relative) for a whole window: a move that
  // turned out wrong, or a device whose speed came back, is not worth 10 s of slow tokens,
  // and measurement noise never promises that much.
  double cooldown_override = 0.5;
  double tick_s = 0.5;      // how often devices are asked for their figures
  double ewma_alpha = 0.3;  // weight of the newest measurement in a device's live speed
};

class BalancePolicy {
 public:
  explicit BalancePolicy(BalanceOptions o = {}) : o_(o) {}
  // One decision: the predicted token rates (higher is better) of the current layout and the
  // best one, at time now_s after `passes` forward passes in all. True: move now.
  bool should_move(double now_s, uint64_t passes, double current_tok_s, double best_tok_s);
  // A move happened (or was forced): the window restarts and the cooldown begins.
  void moved(double now_s);
  // A move was given up (its weights could not be shipped): nothing moves for a whole
  // cooldown, however much better the best layout looks.
  void abandoned(double now_s);
  const BalanceOptions& options() const { return o_; }

 private:
  BalanceOptions o_;
  double better_since_s_ = -1;  // < 0: the best is not better by the margin now
  uint64_t better_since_passes_ = 0;
  double much_better_since_s_ = -1;  // ... by cooldown_override
  uint64_t much_better_since_passes_ = 0;
  double last_move_s_ = -1e300;
  double hold_until_s_ = -1e300;
};

}  // namespace ll::runtime
