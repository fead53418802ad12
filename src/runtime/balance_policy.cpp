#include "runtime/balance_policy.h"

namespace ll::runtime {

bool BalancePolicy::should_move(double now_s, uint64_t passes, double current_tok_s,
                                double best_tok_s) {
  const bool better = current_tok_s > 0 && best_tok_s > current_tok_s * (1 + o_.margin);
  if (!better) {
    better_since_s_ = much_better_since_s_ = -1;
    return false;
  }
  if (better_since_s_ < 0) {
    better_since_s_ = now_s;
    better_since_passes_ = passes;
  }
  if (best_tok_s < current_tok_s * (1 + o_.cooldown_override)) {
    much_better_since_s_ = -1;
  } else if (much_better_since_s_ < 0) {
    much_better_since_s_ = now_s;
    much_better_since_passes_ = passes;
  }
  const bool window =
      now_s - better_since_s_ >= o_.window_s || passes - better_since_passes_ >= o_.window_passes;
  const bool much_window =
      much_better_since_s_ >= 0 && (now_s - much_better_since_s_ >= o_.window_s ||
                                    passes - much_better_since_passes_ >= o_.window_passes);
  if (now_s < hold_until_s_) return false;
  // The override still lets a window pass after the last move, so its own stats settle.
  return (window && now_s - last_move_s_ >= o_.cooldown_s) ||
         (much_window && now_s - last_move_s_ >= o_.window_s);
}

void BalancePolicy::abandoned(double now_s) {
  moved(now_s);
  hold_until_s_ = now_s + o_.cooldown_s;
}

void BalancePolicy::moved(double now_s) {
  last_move_s_ = now_s;
  better_since_s_ = much_better_since_s_ = -1;
}

}  // namespace ll::runtime
