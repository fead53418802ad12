// Pre-tokenizers of byte-level BPE vocabularies: split text into words before BPE runs on
// each word. Each one is a row of the table in pretokenize.cpp: the GGUF name
// (tokenizer.ggml.pre) and the sequence of split patterns its tokenizer.json applies, run by
// the small regex engine in split_regex.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/split_regex.h"

namespace ll::tok {

// A row of the pre-tokenizer table (cheap to copy).
class PreTokenizer {
 public:
  PreTokenizer() = default;  // gpt-2
  static PreTokenizer gpt2() { return PreTokenizer(); }
  // nullopt for names we do not know.
  static std::optional<PreTokenizer> from_name(std::string_view name);
  // Every name the table accepts, in table order.
  static std::vector<std::string> names();

  const char* name() const;
  // The model takes a whole pre-tokenized word as one token when it is in the vocabulary
  // (Hugging Face's BPE ignore_merges, set by Llama-3).
  bool ignore_merges() const;

  uint16_t row() const { return row_; }  // index into the table

  friend bool operator==(PreTokenizer a, PreTokenizer b) { return a.row_ == b.row_; }
  friend bool operator!=(PreTokenizer a, PreTokenizer b) { return a.row_ != b.row_; }

 private:
  explicit PreTokenizer(uint16_t row) : row_(row) {}
  uint16_t row_ = 0;
};

// Kept for callers that predate the class.
inline std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name) {
  return PreTokenizer::from_name(name);
}
inline const char* pre_tokenizer_name(PreTokenizer p) {
  return p.name();
}

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
  SplitRegex::State regex;
};

// Appends the words of text (byte ranges covering all of it, in order) to out.
// Invalid UTF-8 bytes are single chars of class kOther, so any byte string works.
void pre_tokenize(PreTokenizer p, std::string_view text, std::vector<Span>& out,
                  PreTokenizeScratch& scratch);

}  // namespace ll::tok
