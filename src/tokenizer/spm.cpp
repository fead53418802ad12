// SentencePiece BPE encoding: start from UTF-8 chars and repeatedly merge the adjacent
// pair whose concatenation is the highest-scoring vocabulary piece (ties: leftmost), using
// a doubly linked symbol list and a lazy max-heap, so n chars cost O(n log n).
#include <algorithm>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace ll::tok {

namespace {

using SpmSym = Tokenizer::Impl::Scratch::SpmSym;
using SpmBigram = Tokenizer::Impl::Scratch::SpmBigram;

// std heap functions build a max-heap: "less" means lower priority.
struct BigramLess {
  bool operator()(const SpmBigram& a, const SpmBigram& b) const {
    if (a.score != b.score) return a.score < b.score;
    return a.left > b.left;
  }
};

}  // namespace

int32_t spm_char_id(const Utf8Char& c, uint8_t first_byte) {
  // Invalid bytes stay distinct from each other and from every code point.
  return c.cp == kInvalidCodepoint ? 0x110000 + first_byte : static_cast<int32_t>(c.cp);
}

void Tokenizer::Impl::spm_encode(std::string_view fragment, bool prefix_space,
                                 std::vector<int32_t>& out, Scratch& s) const {
  static constexpr std::string_view kSpace = "\xE2\x96\x81";
  // SentencePiece sees spaces as U+2581 and, with add_dummy_prefix, one more in front.
  std::string& text = s.text;
  text.clear();
  text.reserve(fragment.size() + fragment.size() / 2 + 3);
  if (prefix_space) text.append(kSpace);
  for (char c : fragment) {
    if (c == ' ') {
      text.append(kSpace);
    } else {
      text.push_back(c);
    }
  }
  if (text.empty()) return;
  s.spm_rev_merge.clear();

  // Chars, plus where the text can be cut into independent chunks: between two chars that
  // never appear adjacent inside any mergeable piece no merge can ever happen, so each
  // chunk is merged on its own with a small heap (same result, far fewer cache misses).
  std::vector<SpmSym>& syms = s.spm_syms;
  syms.clear();
  std::vector<uint32_t>& cuts = s.spm_cuts;
  cuts.clear();
  int32_t prev_char = -1;
  for (size_t off = 0; off < text.size();) {
    const Utf8Char c = decode_utf8(text.data() + off, text.size() - off);
    const int32_t ch = spm_char_id(c, static_cast<uint8_t>(text[off]));
    if (prev_char >= 0 && !joinable.find(prev_char, ch)) {
      cuts.push_back(static_cast<uint32_t>(syms.size()));
    }
    prev_char = ch;
    syms.push_back(SpmSym{static_cast<uint32_t>(off), c.len, -1, -1});
    off += c.len;
  }
  cuts.push_back(static_cast<uint32_t>(syms.size()));
  uint32_t chunk_begin = 0;
  for (const uint32_t chunk_end : cuts) {
    if (chunk_end - chunk_begin == 1) {
      spm_merge_chunk(text, chunk_begin, chunk_end, out, s);  // one char: nothing to cache
    } else {
      const uint32_t key_off = syms[chunk_begin].off;
      const uint32_t key_end = chunk_end < syms.size() ? syms[chunk_end].off : text.size();
      const std::string_view key(text.data() + key_off, key_end - key_off);
      const uint64_t h = hash_bytes(key.data(), key.size());
      size_t n = 0;
      if (const int32_t* ids = s.cache.find(key, h, &n)) {
        out.insert(out.end(), ids, ids + n);
      } else {
        const size_t before = out.size();
        spm_merge_chunk(text, chunk_begin, chunk_end, out, s);
        s.cache.insert(key, h, out.data() + before, out.size() - before);
      }
    }
    chunk_begin = chunk_end;
  }
}

void Tokenizer::Impl::spm_merge_chunk(std::string_view text, uint32_t begin, uint32_t end,
                                      std::vector<int32_t>& out, Scratch& s) const {
  std::vector<SpmSym>& syms = s.spm_syms;
  for (uint32_t i = begin; i < end; ++i) {
    syms[i].prev = i == begin ? -1 : static_cast<int32_t>(i - 1);
    syms[i].next = i + 1 == end ? -1 : static_cast<int32_t>(i + 1);
  }
  const std::vector<TokenType>& types = vocab->types;
  if (end - begin > 1) {
    std::vector<SpmBigram>& heap = s.spm_heap;
    heap.clear();
    const std::vector<float>& scores = vocab->scores;
    auto try_add = [&](int32_t l, int32_t r) {
      if (l < 0 || r < 0) return;
      const uint32_t len = syms[l].len + syms[r].len;
      if (len > max_mergeable_len) return;
      const std::string_view piece(text.data() + syms[l].off, len);
      const int32_t id = mergeable.find(piece);
      if (id < 0) return;
      heap.push_back(SpmBigram{scores.empty() ? 0.0f : scores[id], static_cast<uint32_t>(l),
                               static_cast<uint32_t>(r), len});
      std::push_heap(heap.begin(), heap.end(), BigramLess{});
      if (types[id] == TokenType::kUnused) s.spm_rev_merge[piece] = syms[l].len;
    };
    for (uint32_t i = begin + 1; i < end; ++i) {
      try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
    }
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), BigramLess{});
      const SpmBigram b = heap.back();
      heap.pop_back();
      SpmSym& left = syms[b.left];
      SpmSym& right = syms[b.right];
      // Stale entry: one side was merged away or grew since it was queued.
      if (left.len == 0 || right.len == 0 || left.len + right.len != b.len) continue;
      left.len += right.len;
      right.len = 0;
      left.next = right.next;
      if (right.next >= 0) syms[right.next].prev = static_cast<int32_t>(b.left);
      try_add(left.prev, static_cast<int32_t>(b.left));
      try_add(static_cast<int32_t>(b.left), left.next);
    }
  }

  // Emit pieces; unused pieces are split back along their merge, unknown chars become
  // byte tokens (or <unk> when the vocabulary has no byte fallback).
  auto emit = [&](auto& self, uint32_t off, uint32_t len) -> void {
    const std::string_view piece(text.data() + off, len);
    const int32_t id = mergeable.find(piece);
    if (id >= 0 && types[id] != TokenType::kUnused) {
      out.push_back(id);
      return;
    }
    if (id >= 0) {
      auto it = s.spm_rev_merge.find(piece);
      if (it != s.spm_rev_merge.end()) {
        self(self, off, it->second);
        self(self, off + it->second, len - it->second);
        return;
      }
    }
    bool all_bytes = true;
    for (uint32_t k = 0; k < len; ++k) {
      if (byte_token[static_cast<uint8_t>(piece[k])] < 0) all_bytes = false;
    }
    if (all_bytes) {
      for (uint32_t k = 0; k < len; ++k) out.push_back(byte_token[static_cast<uint8_t>(piece[k])]);
    } else if (vocab->unk_id >= 0) {
      out.push_back(vocab->unk_id);
    }
  };
  for (int32_t i = static_cast<int32_t>(begin); i != -1; i = syms[i].next) {
    emit(emit, syms[i].off, syms[i].len);
  }
}

}  // namespace ll::tok
