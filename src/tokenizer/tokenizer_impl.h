// Internal state of Tokenizer: lookup tables built once from the Vocab. Not installed.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

namespace ll::tok {

inline uint64_t hash_bytes(const char* p, size_t n) {
  // Word-at-a-time multiply/xorshift mixing: token strings are short, so this is a handful
  // of multiplies per lookup instead of a byte loop.
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  while (n >= 8) {
    uint64_t k;
    std::memcpy(&k, p, 8);
    h = (h ^ k) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  uint64_t k = 0;
  std::memcpy(&k, p, n);
  h = (h ^ k) * 0x94D049BB133111EBull;
  h ^= h >> 29;
  return h;
}

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  return x;
}

// Open-addressing map from token text to id; keys live in the vocabulary's strings, so a
// lookup by string_view never allocates.
class TextMap {
 public:
  void init(const std::vector<std::string>* tokens, size_t expected);
  // Keeps the first id inserted for a text.
  void insert(int32_t id);
  int32_t find(std::string_view s) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash_bytes(s.data(), s.size());
    const uint32_t tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& sl = slots_[i];
      if (sl.id < 0) return -1;
      if (sl.tag == tag) {
        const std::string& t = (*tokens_)[sl.id];
        if (t.size() == s.size() && std::memcmp(t.data(), s.data(), s.size()) == 0) return sl.id;
      }
    }
  }

 private:
  struct Slot {
    uint32_t tag;
    int32_t id;  // -1: empty
  };
  const std::vector<std::string>* tokens_ = nullptr;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// BPE merges keyed by the (left id, right id) pair.
class PairMap {
 public:
  struct Entry {
    int32_t rank = -1;
    int32_t result = -1;
  };
  void init(size_t expected);
  // Keeps the best (lowest) rank when a pair is listed twice.
  void insert(int32_t left, int32_t right, Entry e);
  const Entry* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
    for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& sl = slots_[i];
      if (sl.e.rank < 0) return nullptr;
      if (sl.key == key) return &sl.e;
    }
  }

 private:
  struct Slot {
    uint64_t key = 0;
    Entry e;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// Results of already-encoded chunks (SPM) or words (BPE) within one encode() call: natural
// text repeats its words, and a hit replaces a whole merge loop with one hash lookup.
// Output depends only on the chunk's bytes, so caching cannot change results.
class ChunkCache {
 public:
  // nullptr when absent; otherwise *n is set to the number of ids.
  const int32_t* find(std::string_view key, uint64_t hash, size_t* n) const;
  void insert(std::string_view key, uint64_t hash, const int32_t* ids, size_t n);
  void clear();

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t key_off = 0, key_len = 0;
    uint32_t val_off = 0, val_len = 0;
    bool used = false;
  };
  void grow();
  std::string keys_;
  std::vector<int32_t> vals_;
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

struct Tokenizer::Impl {
  const Vocab* vocab = nullptr;
  TextMap all;        // every token text -> id
  TextMap mergeable;  // SPM: normal, user-defined, unused (what SentencePiece merges into)
  size_t max_mergeable_len = 0;
  int32_t byte_token[256];  // SPM: <0xNN> byte tokens; BPE: token of each byte's symbol
  PairMap merges;           // BPE
  PairMap joinable;         // SPM: char pairs (spm_char_id) adjacent inside a mergeable piece
  bool ignore_merges = false;

  // Special-token matching (see partition()): texts of control/unknown/user-defined tokens.
  TextMap special;
  std::vector<size_t> special_lengths;  // distinct lengths, longest first
  bool first_byte_always[256];          // user-defined tokens' first bytes
  bool first_byte_any[256];             // all special tokens' first bytes

  std::vector<std::string> pieces;  // decoded bytes per token (special = false)
  std::vector<uint8_t> special_flag;
  std::vector<int32_t> eog;

  // Per-call working memory, created on the stack of encode() so encode stays const and
  // thread-safe while words reuse the same buffers.
  struct Scratch {
    std::string text;
    std::vector<Span> words;
    PreTokenizeScratch pre;
    struct SpmSym {
      uint32_t off, len;
      int32_t prev, next;
    };
    struct SpmBigram {
      float score;
      uint32_t left, right, len;
    };
    struct BpeSym {
      int32_t id;
      int32_t prev, next;
    };
    struct BpeBigram {
      int32_t rank;
      uint32_t left, right;
      int32_t left_id, right_id;
    };
    std::vector<SpmSym> spm_syms;
    std::vector<uint32_t> spm_cuts;
    std::vector<SpmBigram> spm_heap;
    std::vector<BpeSym> bpe_syms;
    std::vector<BpeBigram> bpe_heap;
    ChunkCache cache;
    // SPM merges into unused-type pieces, undone at the end as SentencePiece does:
    // piece text (in `text`) -> byte length of its left part.
    std::unordered_map<std::string_view, uint32_t> spm_rev_merge;
  };

  Status build(const Vocab& v);
  void spm_encode(std::string_view fragment, bool prefix_space, std::vector<int32_t>& out,
                  Scratch& s) const;
  void spm_merge_chunk(std::string_view text, uint32_t begin, uint32_t end,
                       std::vector<int32_t>& out, Scratch& s) const;
  void bpe_encode(std::string_view fragment, std::vector<int32_t>& out, Scratch& s) const;
  void bpe_word(std::string_view word, std::vector<int32_t>& out, Scratch& s) const;
};

struct Utf8Char;
int32_t spm_char_id(const Utf8Char& c, uint8_t first_byte);

// GPT-2's byte <-> printable code point mapping used by byte-level BPE vocabularies.
uint32_t byte_to_unicode(uint8_t b);
int unicode_to_byte(uint32_t cp);  // -1 if cp is not one of the 256 images

}  // namespace ll::tok
