// Text <-> token ids for GGUF vocabularies: SentencePiece-style ("llama") and byte-level
// BPE ("gpt2") tokenizers, special tokens, and streaming detokenization.
// See docs/tokenizer.md for the exact conventions (leading space, invalid UTF-8, errors).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/pretokenize.h"

namespace ll::gguf {
class File;
}

namespace ll::tok {

// Values of tokenizer.ggml.token_type.
enum class TokenType : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum class VocabKind {
  kSpm,  // tokenizer.ggml.model = "llama"
  kBpe,  // tokenizer.ggml.model = "gpt2"
};

// Everything the tokenizer reads from GGUF metadata, validated. Public so tests and tools
// can build vocabularies without a file.
struct Vocab {
  VocabKind kind = VocabKind::kSpm;
  PreTokenizer pre;      // BPE only (default: gpt-2)
  std::string pre_name;  // as found in the file ("" when absent)
  std::vector<std::string> tokens;
  std::vector<float> scores;        // SPM merge priority; empty or one per token
  std::vector<TokenType> types;     // one per token
  std::vector<std::string> merges;  // BPE: "left right", rank = index
  int32_t bos_id = -1, eos_id = -1, eot_id = -1, eom_id = -1, pad_id = -1, unk_id = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = true;  // SPM only

  // Reads tokenizer.ggml.*; a missing or malformed key yields an error naming it.
  static Result<Vocab> from_gguf(const gguf::File& file);
};

class Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const gguf::File& file);
  static Result<std::unique_ptr<Tokenizer>> from_vocab(Vocab vocab);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: prepend BOS if the vocab's add_bos is set, append EOS if add_eos is set.
  // parse_special: control/unknown-type tokens written literally in text become their ids.
  // User-defined tokens are always matched (that is how their vocabularies define them).
  // Thread-safe (const, no shared mutable state). Text runs over 256 MiB between special
  // tokens are encoded in parts cut after a newline.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // Concatenated pieces; ids outside [0, n_vocab) are skipped. Control and unknown-type
  // tokens render as "" unless special is set. SPM: see docs for the leading-space rule.
  std::string decode(const std::vector<int32_t>& ids, bool special = false) const;

  // Bytes of one token with no leading-space stripping; "" for an out-of-range id.
  std::string token_to_piece(int32_t id, bool special = false) const;

  // Exact vocabulary text lookup; -1 if absent.
  int32_t token_to_id(std::string_view text) const;

  int32_t n_vocab() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  bool is_valid(int32_t id) const { return id >= 0 && id < n_vocab(); }
  const Vocab& vocab() const { return vocab_; }
  VocabKind kind() const { return vocab_.kind; }
  const std::string& token_text(int32_t id) const;  // raw vocabulary string
  TokenType token_type(int32_t id) const;           // kUndefined for an invalid id
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  int32_t eot_id() const { return vocab_.eot_id; }
  int32_t pad_id() const { return vocab_.pad_id; }
  int32_t unk_id() const { return vocab_.unk_id; }
  bool add_bos() const { return vocab_.add_bos; }
  bool add_eos() const { return vocab_.add_eos; }
  // End of generation: EOS, EOT, EOM, or a control/user-defined token with a well-known
  // end-of-turn text such as "<|eot_id|>", "<|im_end|>", "<|end|>", "<|endoftext|>".
  bool is_eog(int32_t id) const;
  // Control or user-defined: after these, SPM decoding drops the piece's leading space.
  bool is_special(int32_t id) const;

  struct Impl;

 private:
  explicit Tokenizer(Vocab vocab);
  Vocab vocab_;
  std::unique_ptr<Impl> impl_;
  friend class StreamDecoder;
};

// Incremental detokenization for generation: push() returns only complete UTF-8 chars (and
// bytes that can never become part of one), holding back a char split across tokens.
// Concatenating every push() and the final flush() equals Tokenizer::decode of all ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool special = false);
  // Continue after tokens that were not pushed (the prompt): later output is what decode()
  // of context + new ids adds after decode(context). Without it, SPM drops the leading
  // space of the first pushed token, as decode() does at the start of a text.
  void prime(const std::vector<int32_t>& context);
  std::string push(int32_t id);
  // Emits held-back bytes as they are (an unfinished char at the end stays invalid bytes,
  // exactly what decode() returns) and resets to the start-of-text state.
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool special_;
  bool at_start_ = true;  // SPM leading-space state, as in decode()
  std::string pending_;
};

}  // namespace ll::tok
