#include "model/generate.h"

#include "core/clock.h"

namespace ll::model {

Result<GenerateResult> generate(Engine& engine, const std::vector<int32_t>& prompt, int n_predict,
                                Sampler& sampler, const std::function<bool(int32_t)>& on_token,
                                const std::function<bool(int32_t)>& is_eog) {
  if (prompt.empty())
    return invalid_argument("the prompt has no tokens (BOS is added unless disabled)");
  if (static_cast<int>(prompt.size()) + n_predict > engine.n_ctx()) {
    return invalid_argument("prompt (" + std::to_string(prompt.size()) + " tokens) plus " +
                            std::to_string(n_predict) + " new tokens exceeds the context of " +
                            std::to_string(engine.n_ctx()));
  }
  GenerateResult r;
  r.prompt_tokens = prompt;
  std::vector<int32_t> history = prompt;
  double t0 = mono_now_s();
  LL_ASSIGN_OR_RETURN(std::vector<float> logits, engine.eval(graph::Batch::prompt(prompt, 0)));
  r.prefill_s = mono_now_s() - t0;
  int pos = static_cast<int>(prompt.size());
  for (int i = 0; i < n_predict; ++i) {
    const int32_t t = sampler.sample(logits.data(), engine.n_vocab(), history);
    r.tokens.push_back(t);
    history.push_back(t);
    if (on_token && !on_token(t)) break;
    if (is_eog && is_eog(t)) break;
    if (i + 1 == n_predict) break;
    t0 = mono_now_s();
    LL_ASSIGN_OR_RETURN(logits, engine.eval(graph::Batch::prompt({t}, pos++)));
    r.decode_s += mono_now_s() - t0;
    ++r.decode_evals;
  }
  engine.release(0);
  return r;
}

}  // namespace ll::model
