// Helpers shared by subcommands: model + tokenizer loading with errors printed once.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/sampler.h"
#include "tokenizer/tokenizer.h"

namespace ll::tools {

struct SamplingFlags {
  float temp = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  uint64_t seed = 0;
  void add(CLI::App& sub);
  model::SamplerParams params() const;
};

// Prints "error: ..." to stderr and returns the exit code for a failed Status.
int fail(const Status& st);

// Parses "1,2,3" (spaces allowed); error names the bad element.
Result<std::vector<int32_t>> parse_ids(const std::string& s);

// Prompt ids: --prompt-ids when given, else tokenized text (BOS added when the vocab says so;
// an empty prompt means BOS only).
Result<std::vector<int32_t>> prompt_tokens(const tok::Tokenizer* tok, const std::string& text,
                                           const std::string& ids, bool no_bos);

std::string json_escape_utf8(const std::string& s);

}  // namespace ll::tools
