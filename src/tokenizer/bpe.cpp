// Byte-level BPE encoding: pre-tokenize into words, then per word start from one symbol
// per byte and apply the lowest-ranked merge (ties: leftmost) until none applies. Symbols
// are token ids and merges are looked up by id pair, so no strings are built.
#include <algorithm>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace ll::tok {

namespace {

using BpeSym = Tokenizer::Impl::Scratch::BpeSym;
using BpeBigram = Tokenizer::Impl::Scratch::BpeBigram;

// Max-heap comparator where "greater priority" = lower rank, then lower position.
struct BigramLess {
  bool operator()(const BpeBigram& a, const BpeBigram& b) const {
    if (a.rank != b.rank) return a.rank > b.rank;
    return a.left > b.left;
  }
};

}  // namespace

void Tokenizer::Impl::bpe_encode(std::string_view fragment, std::vector<int32_t>& out,
                                 Scratch& s) const {
  s.words.clear();
  pre_tokenize(vocab->pre, fragment, s.words, s.pre);
  for (const Span w : s.words) {
    const std::string_view word = fragment.substr(w.begin, w.end - w.begin);
    if (word.size() == 1) {
      bpe_word(word, out, s);
      continue;
    }
    const uint64_t h = hash_bytes(word.data(), word.size());
    size_t n = 0;
    if (const int32_t* ids = s.cache.find(word, h, &n)) {
      out.insert(out.end(), ids, ids + n);
    } else {
      const size_t before = out.size();
      bpe_word(word, out, s);
      s.cache.insert(word, h, out.data() + before, out.size() - before);
    }
  }
}

void Tokenizer::Impl::bpe_word(std::string_view word, std::vector<int32_t>& out, Scratch& s) const {
  if (word.empty()) return;
  if (ignore_merges && word.size() > 1) {
    std::string& enc = s.text;
    enc.clear();
    for (char c : word) append_utf8(enc, byte_to_unicode(static_cast<uint8_t>(c)));
    const int32_t id = all.find(enc);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (word.size() == 1) {
    const int32_t id = byte_token[static_cast<uint8_t>(word[0])];
    if (id >= 0) {
      out.push_back(id);
    } else if (vocab->unk_id >= 0) {
      out.push_back(vocab->unk_id);
    }
    return;
  }

  std::vector<BpeSym>& syms = s.bpe_syms;
  syms.clear();
  const auto n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    syms.push_back(BpeSym{byte_token[static_cast<uint8_t>(word[i])], i - 1, i + 1});
  }
  syms.back().next = -1;

  std::vector<BpeBigram>& heap = s.bpe_heap;
  heap.clear();
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const int32_t a = syms[l].id, b = syms[r].id;
    if (a < 0 || b < 0) return;
    const PairMap::Entry* e = merges.find(a, b);
    if (!e) return;
    heap.push_back(BpeBigram{e->rank, static_cast<uint32_t>(l), static_cast<uint32_t>(r), a, b});
    std::push_heap(heap.begin(), heap.end(), BigramLess{});
  };
  for (int32_t i = 1; i < n; ++i) try_add(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BigramLess{});
    const BpeBigram b = heap.back();
    heap.pop_back();
    BpeSym& left = syms[b.left];
    BpeSym& right = syms[b.right];
    // Stale unless both sides are unchanged and still adjacent (ids only grow into longer
    // tokens, so equal ids plus adjacency means nothing happened to them).
    if (left.id != b.left_id || right.id != b.right_id || left.next != int32_t(b.right)) {
      continue;
    }
    left.id = merges.find(b.left_id, b.right_id)->result;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = static_cast<int32_t>(b.left);
    right.id = -2;  // dead
    right.next = right.prev = -1;
    try_add(left.prev, static_cast<int32_t>(b.left));
    try_add(static_cast<int32_t>(b.left), left.next);
  }

  for (int32_t i = 0; i != -1; i = syms[i].next) {
    if (syms[i].id >= 0) {
      out.push_back(syms[i].id);
    } else if (vocab->unk_id >= 0) {
      out.push_back(vocab->unk_id);
    }
  }
}

}  // namespace ll::tok
