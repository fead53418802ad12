// Pre-tokenizers of byte-level BPE vocabularies: split text into words before BPE runs on
// each word. Each one is a hand-written matcher equivalent to the regex its model ships
// (std::regex has no \p{L}), see pretokenize.cpp for the patterns.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace ll::tok {

enum class PreTokenizer {
  kGpt2,           // "default", "gpt-2"
  kLlama3,         // "llama-bpe"
  kQwen2,          // "qwen2"
  kDeepseekLlm,    // "deepseek-llm"
  kDeepseekCoder,  // "deepseek-coder"
};

// nullopt for names we do not know.
std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name);
const char* pre_tokenizer_name(PreTokenizer p);

// Half-open byte range of a word inside the text.
struct Span {
  uint32_t begin;
  uint32_t end;
};

// Reusable buffers so repeated calls do not allocate.
struct PreTokenizeScratch {
  std::vector<uint32_t> cps;
  std::vector<uint8_t> flags;
  std::vector<uint32_t> offs;
  std::vector<Span> a, b;
};

// Appends the words of text (byte ranges covering all of it, in order) to out.
// Invalid UTF-8 bytes are single chars of class kOther, so any byte string works.
void pre_tokenize(PreTokenizer p, std::string_view text, std::vector<Span>& out,
                  PreTokenizeScratch& scratch);

}  // namespace ll::tok
