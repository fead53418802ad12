// Tokenizer: table construction, special-token partitioning, encode/decode, streaming.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/log.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace ll::tok {

// ---------------------------------------------------------------------------------------
// Hash tables

namespace {
size_t table_size_for(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;  // load factor <= 0.5 keeps probe chains short
  return cap;
}
}  // namespace

void TextMap::init(const std::vector<std::string>* tokens, size_t expected) {
  tokens_ = tokens;
  slots_.assign(table_size_for(expected), Slot{0, -1});
  mask_ = slots_.size() - 1;
}

void TextMap::insert(int32_t id) {
  const std::string& t = (*tokens_)[id];
  const uint64_t h = hash_bytes(t.data(), t.size());
  const uint32_t tag = static_cast<uint32_t>(h >> 32);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    Slot& sl = slots_[i];
    if (sl.id < 0) {
      sl = Slot{tag, id};
      return;
    }
    if (sl.tag == tag && (*tokens_)[sl.id] == t) return;
  }
}

void PairMap::init(size_t expected) {
  slots_.assign(table_size_for(expected), Slot{});
  mask_ = slots_.size() - 1;
}

void PairMap::insert(int32_t left, int32_t right, Entry e) {
  const uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
    Slot& sl = slots_[i];
    if (sl.e.rank < 0) {
      sl.key = key;
      sl.e = e;
      return;
    }
    if (sl.key == key) return;  // merges are inserted by increasing rank: keep the first
  }
}

const int32_t* ChunkCache::find(std::string_view key, uint64_t hash, size_t* n) const {
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& sl = slots_[i];
    if (!sl.used) return nullptr;
    if (sl.hash == hash && sl.key_len == key.size() &&
        std::memcmp(keys_.data() + sl.key_off, key.data(), key.size()) == 0) {
      *n = sl.val_len;
      return vals_.data() + sl.val_off;
    }
  }
}

void ChunkCache::insert(std::string_view key, uint64_t hash, const int32_t* ids, size_t n) {
  // Offsets are 32-bit; a cache that large has stopped paying off anyway.
  if (keys_.size() + key.size() > 0xFFFFFFFFu || vals_.size() + n > 0xFFFFFFFFu) return;
  if ((used_ + 1) * 2 > slots_.size()) grow();
  Slot sl;
  sl.hash = hash;
  sl.key_off = static_cast<uint32_t>(keys_.size());
  sl.key_len = static_cast<uint32_t>(key.size());
  sl.val_off = static_cast<uint32_t>(vals_.size());
  sl.val_len = static_cast<uint32_t>(n);
  sl.used = true;
  keys_.append(key);
  vals_.insert(vals_.end(), ids, ids + n);
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i].used) i = (i + 1) & mask;
  slots_[i] = sl;
  ++used_;
}

void ChunkCache::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
  const size_t mask = slots_.size() - 1;
  for (const Slot& sl : old) {
    if (!sl.used) continue;
    size_t i = sl.hash & mask;
    while (slots_[i].used) i = (i + 1) & mask;
    slots_[i] = sl;
  }
}

void ChunkCache::clear() {
  keys_.clear();
  vals_.clear();
  slots_.clear();
  used_ = 0;
}

// ---------------------------------------------------------------------------------------
// Byte-level mapping (GPT-2): printable Latin-1 bytes map to themselves, the other 68
// bytes to U+0100.. in byte order, so every byte becomes a visible, non-space char.

namespace {
struct ByteMap {
  uint32_t to_cp[256];
  int16_t from_cp[0x144];
  ByteMap() {
    auto printable = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) to_cp[b] = printable(b) ? b : next++;
    std::fill(std::begin(from_cp), std::end(from_cp), int16_t(-1));
    for (int b = 0; b < 256; ++b) from_cp[to_cp[b]] = int16_t(b);
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

// "<0xNN>" -> NN, or -1.
int parse_byte_token(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(t[3]), lo = hex(t[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

bool is_mergeable_type(TokenType t) {
  return t == TokenType::kNormal || t == TokenType::kUserDefined || t == TokenType::kUnused ||
         t == TokenType::kUndefined;
}
bool is_special_type(TokenType t) {
  return t == TokenType::kControl || t == TokenType::kUserDefined;
}
}  // namespace

uint32_t byte_to_unicode(uint8_t b) {
  return byte_map().to_cp[b];
}
int unicode_to_byte(uint32_t cp) {
  return cp < 0x144 ? byte_map().from_cp[cp] : -1;
}

// ---------------------------------------------------------------------------------------
// Construction

Status Tokenizer::Impl::build(const Vocab& v) {
  vocab = &v;
  const size_t n = v.tokens.size();
  if (n == 0) return corrupt("tokenizer.ggml.tokens: empty vocabulary");
  if (v.types.size() != n) {
    return corrupt("tokenizer.ggml.token_type: " + std::to_string(v.types.size()) +
                   " entries for " + std::to_string(n) + " tokens");
  }
  if (!v.scores.empty() && v.scores.size() != n) {
    return corrupt("tokenizer.ggml.scores: " + std::to_string(v.scores.size()) + " entries for " +
                   std::to_string(n) + " tokens");
  }
  auto check_id = [&](int32_t id, const char* key) -> Status {
    if (id < -1 || id >= static_cast<int64_t>(n)) {
      return corrupt(std::string(key) + ": id " + std::to_string(id) + " out of range");
    }
    return Status::ok();
  };
  LL_RETURN_IF_ERROR(check_id(v.bos_id, "tokenizer.ggml.bos_token_id"));
  LL_RETURN_IF_ERROR(check_id(v.eos_id, "tokenizer.ggml.eos_token_id"));
  LL_RETURN_IF_ERROR(check_id(v.eot_id, "tokenizer.ggml.eot_token_id"));
  LL_RETURN_IF_ERROR(check_id(v.eom_id, "tokenizer.ggml.eom_token_id"));
  LL_RETURN_IF_ERROR(check_id(v.pad_id, "tokenizer.ggml.padding_token_id"));
  LL_RETURN_IF_ERROR(check_id(v.unk_id, "tokenizer.ggml.unknown_token_id"));

  all.init(&v.tokens, n);
  for (size_t i = 0; i < n; ++i) all.insert(static_cast<int32_t>(i));

  std::fill(std::begin(byte_token), std::end(byte_token), -1);
  if (v.kind == VocabKind::kSpm) {
    mergeable.init(&v.tokens, n);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    for (size_t i = 0; i < n; ++i) {
      const std::string& t = v.tokens[i];
      if (is_mergeable_type(v.types[i]) && !t.empty()) {
        mergeable.insert(static_cast<int32_t>(i));
        max_mergeable_len = std::max(max_mergeable_len, t.size());
        int32_t prev = -1;
        for (size_t k = 0; k < t.size();) {
          const Utf8Char c = decode_utf8(t.data() + k, t.size() - k);
          const int32_t ch = spm_char_id(c, static_cast<uint8_t>(t[k]));
          if (prev >= 0) pairs.emplace_back(prev, ch);
          prev = ch;
          k += c.len;
        }
      }
      if (v.types[i] == TokenType::kByte) {
        const int b = parse_byte_token(v.tokens[i]);
        if (b >= 0 && byte_token[b] < 0) byte_token[b] = static_cast<int32_t>(i);
      }
    }
    std::sort(pairs.begin(), pairs.end());
    pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
    joinable.init(pairs.size());
    for (const auto& [a, b] : pairs) joinable.insert(a, b, PairMap::Entry{0, 0});
  } else {
    std::string sym;
    for (int b = 0; b < 256; ++b) {
      sym.clear();
      append_utf8(sym, byte_to_unicode(static_cast<uint8_t>(b)));
      byte_token[b] = all.find(sym);
    }
    merges.init(v.merges.size());
    size_t skipped = 0;
    std::string joined;
    for (size_t r = 0; r < v.merges.size(); ++r) {
      const std::string& m = v.merges[r];
      // Search from 1 so a left part that is itself a space still splits correctly.
      const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
      if (sp == std::string::npos || sp + 1 >= m.size()) {
        return corrupt("tokenizer.ggml.merges: entry " + std::to_string(r) + " ('" + m +
                       "') is not of the form 'left right'");
      }
      const std::string_view left(m.data(), sp), right(m.data() + sp + 1, m.size() - sp - 1);
      joined.assign(left);
      joined.append(right);
      const int32_t l = all.find(left), rr = all.find(right), res = all.find(joined);
      if (l < 0 || rr < 0 || res < 0) {
        ++skipped;  // can never fire: some side is not a token
        continue;
      }
      merges.insert(l, rr, PairMap::Entry{static_cast<int32_t>(r), res});
    }
    if (skipped > 0) {
      LL_LOG_WARN(
          "tokenizer.ggml.merges: %zu of %zu merges reference strings that are not "
          "tokens; ignored",
          skipped, v.merges.size());
    }
    // Llama-3's tokenizer takes a whole pre-tokenized word as one token when it exists.
    ignore_merges = v.pre.ignore_merges();
  }

  // Special tokens: matched in raw text before the model runs (see partition()).
  size_t n_special = 0;
  for (size_t i = 0; i < n; ++i) {
    const TokenType t = v.types[i];
    n_special +=
        t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined;
  }
  special.init(&v.tokens, n_special);
  std::fill(std::begin(first_byte_always), std::end(first_byte_always), false);
  std::fill(std::begin(first_byte_any), std::end(first_byte_any), false);
  for (size_t i = 0; i < n; ++i) {
    const TokenType t = v.types[i];
    const std::string& s = v.tokens[i];
    if (s.empty()) continue;
    if (t != TokenType::kControl && t != TokenType::kUnknown && t != TokenType::kUserDefined) {
      continue;
    }
    special.insert(static_cast<int32_t>(i));
    if (std::find(special_lengths.begin(), special_lengths.end(), s.size()) ==
        special_lengths.end()) {
      special_lengths.push_back(s.size());
    }
    const auto b0 = static_cast<uint8_t>(s[0]);
    first_byte_any[b0] = true;
    if (t == TokenType::kUserDefined) first_byte_always[b0] = true;
  }
  std::sort(special_lengths.rbegin(), special_lengths.rend());

  // Decoded pieces.
  pieces.resize(n);
  special_flag.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = v.tokens[i];
    const TokenType type = v.types[i];
    special_flag[i] = is_special_type(type);
    std::string& p = pieces[i];
    switch (type) {
      case TokenType::kControl:
      case TokenType::kUnknown:
        break;
      case TokenType::kUserDefined:
        p = t;
        break;
      case TokenType::kByte: {
        const int b = parse_byte_token(t);
        if (b >= 0) {
          p.assign(1, static_cast<char>(b));
        } else {
          p = t;
        }
        break;
      }
      default:
        if (v.kind == VocabKind::kSpm) {
          for (size_t k = 0; k < t.size();) {
            if (t.compare(k, kSpmSpace.size(), kSpmSpace) == 0) {
              p.push_back(' ');
              k += kSpmSpace.size();
            } else {
              p.push_back(t[k++]);
            }
          }
        } else {
          for (size_t k = 0; k < t.size();) {
            const Utf8Char c = decode_utf8(t.data() + k, t.size() - k);
            const int b = c.cp == kInvalidCodepoint ? -1 : unicode_to_byte(c.cp);
            if (b >= 0) {
              p.push_back(static_cast<char>(b));
            } else {
              p.append(t, k, c.len);  // not a byte image: keep the text as it is
            }
            k += c.len;
          }
        }
        break;
    }
  }

  // End-of-generation ids.
  for (int32_t id : {v.eos_id, v.eot_id, v.eom_id}) {
    if (id >= 0) eog.push_back(id);
  }
  static const char* const kEogTexts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",         "<|endoftext|>",
      "<|eom_id|>", "<EOT>",      "<|EOT|>", "<｜end▁of▁sentence｜>",
  };
  for (const char* text : kEogTexts) {
    const int32_t id = all.find(text);
    if (id >= 0 && is_special_type(v.types[id])) eog.push_back(id);
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  return Status::ok();
}

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)), impl_(std::make_unique<Impl>()) {}
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_vocab(Vocab vocab) {
  // NaN scores would break the merge heap's ordering; they rank below everything.
  for (float& sc : vocab.scores) {
    if (std::isnan(sc)) sc = -std::numeric_limits<float>::infinity();
  }
  std::unique_ptr<Tokenizer> t(new Tokenizer(std::move(vocab)));
  // Built after vocab_ reached its final address: the maps point into its strings.
  LL_RETURN_IF_ERROR(t->impl_->build(t->vocab_));
  return t;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const gguf::File& file) {
  LL_ASSIGN_OR_RETURN(Vocab v, Vocab::from_gguf(file));
  return from_vocab(std::move(v));
}

// ---------------------------------------------------------------------------------------
// Encoding

namespace {

// Splits text around special tokens (leftmost, then longest, as Hugging Face's added-token
// matcher does) and hands raw fragments and matched ids to the callbacks in order.
template <typename OnText, typename OnToken>
void partition(const Tokenizer::Impl& im, std::string_view text, bool parse_special, OnText on_text,
               OnToken on_token) {
  const bool* first = parse_special ? im.first_byte_any : im.first_byte_always;
  size_t raw_start = 0;
  for (size_t p = 0; p < text.size();) {
    if (!first[static_cast<uint8_t>(text[p])]) {
      ++p;
      continue;
    }
    int32_t hit = -1;
    size_t hit_len = 0;
    for (size_t len : im.special_lengths) {
      if (len > text.size() - p) continue;
      const int32_t id = im.special.find(text.substr(p, len));
      if (id < 0) continue;
      if (!parse_special && im.vocab->types[id] != TokenType::kUserDefined) continue;
      hit = id;
      hit_len = len;
      break;
    }
    if (hit < 0) {
      ++p;
      continue;
    }
    if (p > raw_start) on_text(text.substr(raw_start, p - raw_start));
    on_token(hit);
    p += hit_len;
    raw_start = p;
  }
  if (raw_start < text.size()) on_text(text.substr(raw_start));
}

// Offsets inside the encoders are 32-bit (and SPM's escaped text can triple in size), so
// larger raw fragments are encoded in parts, cut after a newline where possible, else at a
// char boundary. Only inputs of hundreds of MB are affected.
constexpr size_t kMaxFragment = size_t(1) << 28;

size_t fragment_cut(std::string_view frag) {
  if (frag.size() <= kMaxFragment) return frag.size();
  const size_t nl = frag.rfind('\n', kMaxFragment - 1);
  if (nl != std::string_view::npos && nl > 0) return nl + 1;
  size_t cut = kMaxFragment;
  // At most 3 steps back: enough for valid UTF-8, and bounded for arbitrary bytes.
  for (int k = 0; k < 3 && (static_cast<uint8_t>(frag[cut]) & 0xC0) == 0x80; ++k) --cut;
  return cut;
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && vocab_.add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  Impl::Scratch scratch;
  // SPM: the text, and any text right after a special token, gets SentencePiece's dummy
  // prefix space (llama.cpp's and Hugging Face's legacy behaviour).
  bool after_special = true;
  partition(
      *impl_, text, parse_special,
      [&](std::string_view frag) {
        bool first = true;
        while (!frag.empty()) {
          const std::string_view part = frag.substr(0, fragment_cut(frag));
          frag.remove_prefix(part.size());
          if (vocab_.kind == VocabKind::kSpm) {
            impl_->spm_encode(part, vocab_.add_space_prefix && after_special && first, out,
                              scratch);
          } else {
            impl_->bpe_encode(part, out, scratch);
          }
          first = false;
        }
        after_special = false;
      },
      [&](int32_t id) {
        out.push_back(id);
        after_special = true;
      });
  if (add_special && vocab_.add_eos && vocab_.eos_id >= 0) out.push_back(vocab_.eos_id);
  return out;
}

// ---------------------------------------------------------------------------------------
// Decoding

const std::string& Tokenizer::token_text(int32_t id) const {
  static const std::string kEmpty;
  return is_valid(id) ? vocab_.tokens[id] : kEmpty;
}

TokenType Tokenizer::token_type(int32_t id) const {
  return is_valid(id) ? vocab_.types[id] : TokenType::kUndefined;
}

int32_t Tokenizer::token_to_id(std::string_view text) const {
  return impl_->all.find(text);
}

bool Tokenizer::is_eog(int32_t id) const {
  return std::binary_search(impl_->eog.begin(), impl_->eog.end(), id);
}

bool Tokenizer::is_special(int32_t id) const {
  return is_valid(id) && impl_->special_flag[id];
}

std::string Tokenizer::token_to_piece(int32_t id, bool special) const {
  if (!is_valid(id)) return {};
  const TokenType t = vocab_.types[id];
  if (special && (t == TokenType::kControl || t == TokenType::kUnknown)) return vocab_.tokens[id];
  return impl_->pieces[id];
}

namespace {
// The piece of id as decode() renders it at this position, updating the start state.
std::string_view piece_in_context(const Tokenizer& tok, const std::vector<std::string>& pieces,
                                  int32_t id, bool special, bool& at_start) {
  const Vocab& v = tok.vocab();
  const TokenType t = v.types[id];
  std::string_view p = pieces[id];
  if (special && (t == TokenType::kControl || t == TokenType::kUnknown)) p = v.tokens[id];
  // Undo the dummy prefix encode() adds at the start and after special tokens.
  if (at_start && v.kind == VocabKind::kSpm && v.add_space_prefix && !tok.is_special(id) &&
      t != TokenType::kByte && !p.empty() && p[0] == ' ') {
    p.remove_prefix(1);
  }
  at_start = tok.is_special(id);
  return p;
}
}  // namespace

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool special) const {
  std::string out;
  bool at_start = true;
  for (int32_t id : ids) {
    if (!is_valid(id)) continue;
    out.append(piece_in_context(*this, impl_->pieces, id, special, at_start));
  }
  return out;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool special)
    : tok_(tokenizer), special_(special) {}

void StreamDecoder::prime(const std::vector<int32_t>& context) {
  pending_.clear();
  at_start_ = true;
  for (int32_t id : context) {
    if (tok_.is_valid(id))
      (void)piece_in_context(tok_, tok_.impl_->pieces, id, special_, at_start_);
  }
}

std::string StreamDecoder::push(int32_t id) {
  if (!tok_.is_valid(id)) return {};
  pending_.append(piece_in_context(tok_, tok_.impl_->pieces, id, special_, at_start_));
  const size_t k = utf8_emittable_prefix(pending_);
  std::string out = pending_.substr(0, k);
  pending_.erase(0, k);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = std::move(pending_);
  pending_.clear();
  at_start_ = true;
  return out;
}

}  // namespace ll::tok
