// The token loop on one device: prefill the prompt, then sample and decode one token at a time.
#pragma once

#include <functional>
#include <vector>

#include "model/engine.h"
#include "model/sampler.h"

namespace ll::model {

struct GenerateResult {
  std::vector<int32_t> prompt_tokens;
  std::vector<int32_t> tokens;
  double prefill_s = 0;
  double decode_s = 0;
  int decode_evals = 0;
  double prefill_tok_s() const { return prefill_s > 0 ? prompt_tokens.size() / prefill_s : 0; }
  double decode_tok_s() const { return decode_s > 0 ? decode_evals / decode_s : 0; }
};

// on_token returns false to stop; is_eog marks end-of-generation tokens (kept, then stop).
Result<GenerateResult> generate(Engine& engine, const std::vector<int32_t>& prompt, int n_predict,
                                Sampler& sampler, const std::function<bool(int32_t)>& on_token,
                                const std::function<bool(int32_t)>& is_eog = nullptr);

}  // namespace ll::model
