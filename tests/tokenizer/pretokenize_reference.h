// Independent reference for the pre-tokenizer table: see pretokenize_reference.cpp.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/pretokenize.h"

namespace ll::tok::reference {

enum class RefPre { kGpt2, kLlama3, kQwen2, kDeepseekLlm, kDeepseekCoder };

struct RefScratch {
  std::vector<uint32_t> cps;
  std::vector<uint8_t> flags;
  std::vector<uint32_t> offs;
  std::vector<Span> a, b;
};

void pre_tokenize(RefPre p, std::string_view text, std::vector<Span>& out);

}  // namespace ll::tok::reference
