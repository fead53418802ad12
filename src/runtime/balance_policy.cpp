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
  // Held since (since_s, since_passes) for a window of seconds or of passes.
  auto held = [&](double since_s, uint64_t since_passes) {
    return since_s >= 0 &&
           (now_s - since_s >= o_.window_s || passes - since_passes >= o_.window_passes);
  };
  const bool window = held(better_since_s_, better_since_passes_);
  const bool much_window = held(much_better_since_s_, much_better_since_passes_);
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
