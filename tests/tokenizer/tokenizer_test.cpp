#include <gtest/gtest.h>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "shared_dir.h"
#include "temp_dir.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace ll::tok {
namespace {

const char* const kVocabs[] = {"llama-spm", "phi-3", "gpt-2", "deepseek-coder", "deepseek-llm"};

std::string vocab_rel(const std::string& name) {
  return "vocab/ggml-vocab-" + name + ".gguf";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loaded once per vocabulary for the whole test binary (the 100k vocab takes a moment).
const Tokenizer* load_vocab(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  auto file = gguf::File::open(::ll::testing::shared_path(vocab_rel(name)));
  if (!file.is_ok()) {
    ADD_FAILURE() << name << ": " << file.status().to_string();
    return nullptr;
  }
  auto tok = Tokenizer::from_gguf(**file);
  if (!tok.is_ok()) {
    ADD_FAILURE() << name << ": " << tok.status().to_string();
    return nullptr;
  }
  return (cache[name] = std::move(*tok)).get();
}

// The .inp file: strings separated by "\n__ggml_vocab_test__\n"; the file also ends with
// that separator, so the empty piece after the last one is not a test (an empty string in
// the middle is: the third vector is "").
std::vector<std::string> read_inputs(const std::string& path) {
  const std::string all = read_file(path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t k = all.find(sep, pos);
    if (k == std::string::npos) {
      if (pos < all.size()) out.push_back(all.substr(pos));
      break;
    }
    out.push_back(all.substr(pos, k - pos));
    pos = k + sep.size();
  }
  return out;
}

// The .out file: one line of space-separated ids per input (lines start with a space).
std::vector<std::vector<int32_t>> read_outputs(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<int32_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int64_t x;
    while (ls >> x) ids.push_back(static_cast<int32_t>(x));
    out.push_back(ids);
  }
  return out;
}

std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    s.push_back(' ');
    s += std::to_string(id);
  }
  return s;
}

std::string escaped(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c == '\n') {
      o += "\\n";
    } else if (c == '\t') {
      o += "\\t";
    } else {
      o.push_back(static_cast<char>(c));
    }
  }
  return o;
}

// Random text mixing the hard cases: ASCII words, digit runs, whitespace runs, emoji and
// ZWJ sequences, CJK, Cyrillic, combining marks, apostrophes, and invalid UTF-8.
std::string random_text(std::mt19937& rng) {
  static const char* const kPieces[] = {
      "the",
      "Hello",
      "world",
      "I'm",
      "'s",
      "'LL",
      "don't",
      "12",
      "3",
      "123456",
      " ",
      "  ",
      "    ",
      "\t",
      "\n",
      "\n\n",
      "\r\n",
      " \n ",
      ".",
      ",",
      "!!!",
      "?",
      "(",
      ")",
      "-",
      "=",
      "``",
      "\"",
      "'",
      "_",
      "🚀",
      "😶‍🌫️",
      "🦙",
      "✅",
      "我想在",
      "中文",
      "한국어",
      "ру",
      "Фыва",
      "ü",
      "é",
      "e\xCC\x81",
      "½",
      "ẞ",
      "ﬀ",
      "Ⅻ",
      "٣",
      "\xC2\xA0",
      "\xE3\x80\x80",
      "\xFF",
      "\xC3",
      "\xE2\x96",
      "\xF0\x9F\x98",
      "\x80",
      "\xBF\xBF",
      "\xC0\xAF",
      "\xED\xA0\x80",
      "\xF4\x90\x80\x80",
      "\x00",
      "\x01",
      "\x7F",
      "<s>",
      "</s>",
      "<unk>",
      "<|endoftext|>",
      "▁",
  };
  constexpr size_t n_pieces = sizeof(kPieces) / sizeof(kPieces[0]);
  std::uniform_int_distribution<int> count(0, 12), pick(0, n_pieces - 1), byte(0, 255), mode(0, 9);
  std::string s;
  const int n = count(rng);
  for (int i = 0; i < n; ++i) {
    const int m = mode(rng);
    if (m == 0) {
      s.push_back(static_cast<char>(byte(rng)));  // arbitrary byte
    } else {
      const char* p = kPieces[pick(rng)];
      // "\x00" is an empty C string; emit the NUL byte it stands for.
      if (*p == 0) {
        s.push_back('\0');
      } else {
        s += p;
      }
    }
  }
  return s;
}

// Bytes whose byte-level symbol exists only as a user-defined token (deepseek's 'ü' for
// byte 0xFC, ...): such a byte encodes to that token, which decodes to the token's text.
// These bytes (C0, C1, F5..FF) never occur in valid UTF-8.
std::map<uint8_t, std::string> lossy_bytes(const Tokenizer& tok) {
  std::map<uint8_t, std::string> m;
  if (tok.kind() != VocabKind::kBpe) return m;
  for (int b = 0; b < 256; ++b) {
    const std::string s(1, static_cast<char>(b));
    const auto ids = tok.encode(s, false, false);
    const std::string d = tok.decode(ids);
    if (d != s) m[static_cast<uint8_t>(b)] = d;
  }
  return m;
}

std::string spm_spaces(const Tokenizer& tok, const std::string& s) {
  if (tok.kind() != VocabKind::kSpm) return s;
  std::string o;
  for (size_t k = 0; k < s.size();) {
    if (s.compare(k, 3, "\xE2\x96\x81") == 0) {
      o.push_back(' ');
      k += 3;
    } else {
      o.push_back(s[k++]);
    }
  }
  return o;
}

std::string apply_lossy(const std::string& s, const std::map<uint8_t, std::string>& m) {
  if (m.empty()) return s;
  std::string o;
  for (unsigned char c : s) {
    auto it = m.find(c);
    if (it != m.end()) {
      o += it->second;
    } else {
      o.push_back(static_cast<char>(c));
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------

class VocabTest : public ::testing::TestWithParam<const char*> {};

TEST_P(VocabTest, MatchesReferenceVectors) {
  LL_REQUIRE_SHARED("vocab");
  const std::string name = GetParam();
  const Tokenizer* tok = load_vocab(name);
  ASSERT_NE(tok, nullptr);
  const std::string base = ::ll::testing::shared_path(vocab_rel(name));
  const auto inputs = read_inputs(base + ".inp");
  const auto expected = read_outputs(base + ".out");
  ASSERT_EQ(inputs.size(), expected.size()) << name;
  size_t matched = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto got = tok->encode(inputs[i], /*add_special=*/false, /*parse_special=*/false);
    if (got == expected[i]) {
      ++matched;
    } else {
      ADD_FAILURE() << name << " vector " << i << " '" << escaped(inputs[i])
                    << "'\n  expected:" << ids_str(expected[i]) << "\n  got:     " << ids_str(got);
    }
  }
  std::printf("[ vectors  ] %-15s %zu/%zu strings match\n", name.c_str(), matched, inputs.size());
  EXPECT_EQ(matched, inputs.size());
}

// Round trip. The rule checked is decode(encode(s)) == expected(s) where expected(s) is s
// itself except for two documented normalizations:
//  - SPM: a literal U+2581 ("▁") in the text is SentencePiece's space symbol, so it comes
//    back as ' ' (as with SentencePiece itself). The dummy-prefix space needs no exception:
//    encode adds it and decode removes exactly it.
//  - BPE whose byte alphabet lacks some byte (deepseek has bytes C0, C1, F5..FF only as
//    user-defined tokens such as 'ü'): such a byte decodes to that token's text.
TEST_P(VocabTest, RoundTrip) {
  LL_REQUIRE_SHARED("vocab");
  const std::string name = GetParam();
  const Tokenizer* tok = load_vocab(name);
  ASSERT_NE(tok, nullptr);
  const auto lossy = lossy_bytes(*tok);
  if (name.rfind("deepseek", 0) == 0) {
    EXPECT_EQ(lossy.size(), 13u) << "deepseek lacks exactly C0 C1 F5..FF in its byte alphabet";
  } else {
    EXPECT_TRUE(lossy.empty()) << name;
  }
  for (const auto& [b, text] : lossy) EXPECT_TRUE(b == 0xC0 || b == 0xC1 || b >= 0xF5);

  std::vector<std::string> texts =
      read_inputs(::ll::testing::shared_path(vocab_rel(name)) + ".inp");
  std::mt19937 rng(1234);
  for (int i = 0; i < 10000; ++i) texts.push_back(random_text(rng));
  int failures = 0;
  for (const std::string& s : texts) {
    const std::string back = tok->decode(tok->encode(s, false, false));
    const std::string want = spm_spaces(*tok, apply_lossy(s, lossy));
    if (back != want && ++failures <= 5) {
      ADD_FAILURE() << name << ": '" << escaped(s) << "' came back as '" << escaped(back) << "'";
    }
  }
  EXPECT_EQ(failures, 0);
}

// Every push() output ends and starts on a char boundary of the final text, and the
// concatenation equals decode().
TEST_P(VocabTest, StreamDecoderNeverSplitsChars) {
  LL_REQUIRE_SHARED("vocab");
  const std::string name = GetParam();
  const Tokenizer* tok = load_vocab(name);
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(99);
  std::vector<std::string> texts =
      read_inputs(::ll::testing::shared_path(vocab_rel(name)) + ".inp");
  for (int i = 0; i < 2000; ++i) texts.push_back(random_text(rng));
  for (const std::string& s : texts) {
    const auto ids = tok->encode(s, true, false);
    StreamDecoder dec(*tok);
    std::string all;
    std::vector<size_t> cuts;
    for (int32_t id : ids) {
      all += dec.push(id);
      cuts.push_back(all.size());
    }
    all += dec.flush();
    ASSERT_EQ(all, tok->decode(ids)) << name << " '" << escaped(s) << "'";
    std::vector<bool> starts(all.size() + 1, false);
    for (size_t k = 0; k < all.size();) {
      starts[k] = true;
      k += decode_utf8(all.data() + k, all.size() - k).len;
    }
    starts[all.size()] = true;
    for (size_t c : cuts) {
      ASSERT_TRUE(starts[c]) << name << ": push() split a char at byte " << c << " of '"
                             << escaped(all) << "'";
    }
  }
}

// Generation: the prompt is not pushed, only primed; the streamed continuation is what
// decode() of the whole sequence adds after the prompt (e.g. " there", with its space).
TEST_P(VocabTest, StreamDecoderContinuesAfterPrompt) {
  LL_REQUIRE_SHARED("vocab");
  const std::string name = GetParam();
  const Tokenizer* tok = load_vocab(name);
  ASSERT_NE(tok, nullptr);
  for (const std::string& prompt : {std::string(""), std::string("Once upon a time")}) {
    const auto p = tok->encode(prompt, true, false);
    const auto g = tok->encode(" there was a 🦙 named Ünal.", false, false);
    std::vector<int32_t> all = p;
    all.insert(all.end(), g.begin(), g.end());
    StreamDecoder dec(*tok);
    dec.prime(p);
    std::string streamed;
    for (int32_t id : g) streamed += dec.push(id);
    streamed += dec.flush();
    const std::string whole = tok->decode(all);
    const std::string head = tok->decode(p);
    ASSERT_EQ(whole.substr(0, head.size()), head);
    EXPECT_EQ(streamed, whole.substr(head.size())) << name << " prompt '" << prompt << "'";
  }
}

TEST_P(VocabTest, RandomIdsAndEdgeCases) {
  LL_REQUIRE_SHARED("vocab");
  const std::string name = GetParam();
  const Tokenizer* tok = load_vocab(name);
  ASSERT_NE(tok, nullptr);
  const int32_t n = tok->n_vocab();

  EXPECT_TRUE(tok->encode("", false, false).empty());
  EXPECT_TRUE(tok->encode("", false, true).empty());
  EXPECT_EQ(tok->decode({}), "");

  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> any(-5, n + 5), len(0, 40);
  StreamDecoder dec(*tok, /*special=*/true);
  for (int i = 0; i < 2000; ++i) {
    std::vector<int32_t> ids(len(rng));
    for (int32_t& id : ids) id = any(rng);
    const std::string text = tok->decode(ids);
    std::string streamed;
    StreamDecoder sd(*tok);
    for (int32_t id : ids) streamed += sd.push(id);
    streamed += sd.flush();
    EXPECT_EQ(streamed, text);
    for (int32_t id : ids) (void)dec.push(id);
  }
  (void)dec.flush();
  // Out-of-range ids are skipped.
  EXPECT_EQ(tok->decode({-1, n, n + 100, INT32_MIN, INT32_MAX}), "");
  EXPECT_EQ(tok->token_to_piece(-1), "");
  EXPECT_EQ(tok->token_to_piece(n), "");
  for (int32_t id = 0; id < n; ++id) (void)tok->token_to_piece(id, id % 2 == 0);

  // Long runs of one char: must stay fast (no quadratic blow-up) and lossless.
  for (const std::string unit : {"a", " ", "\n", "3", "!", "🦙", "\xFF", "我"}) {
    std::string s;
    for (int i = 0; i < 20000; ++i) s += unit;
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok->encode(s, false, false);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(secs, 1.0) << name << " run of '" << escaped(unit) << "'";
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(tok->decode(ids), apply_lossy(s, lossy_bytes(*tok))) << escaped(unit);
  }
}

INSTANTIATE_TEST_SUITE_P(SharedVocabs, VocabTest, ::testing::ValuesIn(kVocabs),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) {
                             if (c == '-') c = '_';
                           }
                           return s;
                         });

// ---------------------------------------------------------------------------------------
// Specific behaviours on real vocabularies

TEST(Tokenizer, SpmSpecialTokensAndBos) {
  LL_REQUIRE_SHARED("vocab");
  const Tokenizer* tok = load_vocab("llama-spm");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->kind(), VocabKind::kSpm);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_TRUE(tok->add_bos());
  EXPECT_TRUE(tok->is_eog(2));
  EXPECT_FALSE(tok->is_eog(1));
  EXPECT_EQ(tok->encode("Hello world", true, false), (std::vector<int32_t>{1, 15043, 3186}));
  // Control tokens are text unless parse_special; after one, text gets the dummy prefix.
  EXPECT_EQ(tok->encode("<s>Hello", false, true), (std::vector<int32_t>{1, 15043}));
  const auto literal = tok->encode("<s>Hello", false, false);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 1), 0);
  EXPECT_EQ(tok->decode(literal), "<s>Hello");
  EXPECT_EQ(tok->decode({1, 15043, 3186, 2}), "Hello world");
  EXPECT_EQ(tok->decode({1, 15043, 2}, /*special=*/true), "<s>Hello</s>");
  EXPECT_EQ(tok->token_to_piece(3186), " world");
  EXPECT_EQ(tok->token_to_piece(13), "\n");  // <0x0A>
  EXPECT_EQ(tok->token_to_id("▁world"), 3186);
}

TEST(Tokenizer, UserDefinedTokensAlwaysMatch) {
  LL_REQUIRE_SHARED("vocab");
  const Tokenizer* phi = load_vocab("phi-3");
  ASSERT_NE(phi, nullptr);
  // phi-3 marks "</s>" user-defined: matched even without parse_special, and lossless.
  const auto ids = phi->encode("a</s> b", false, false);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 2), ids.end());
  EXPECT_EQ(phi->decode(ids), "a</s> b");
  EXPECT_TRUE(phi->is_eog(phi->token_to_id("<|end|>")));
  EXPECT_EQ(phi->encode("<|user|>", false, true), (std::vector<int32_t>{32010}));

  const Tokenizer* ds = load_vocab("deepseek-coder");
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->encode("\xFC", false, false), (std::vector<int32_t>{32009}));  // byte -> 'ü'
  EXPECT_TRUE(ds->is_eog(ds->token_to_id("<|EOT|>")));
  EXPECT_EQ(ds->encode("x<｜fim▁hole｜>y", false, false)[1], 32015);
}

TEST(Tokenizer, Gpt2Basics) {
  LL_REQUIRE_SHARED("vocab");
  const Tokenizer* tok = load_vocab("gpt-2");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->kind(), VocabKind::kBpe);
  EXPECT_FALSE(tok->add_bos());
  EXPECT_EQ(tok->encode("Hello world", true, false), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(tok->encode("<|endoftext|>", false, true), (std::vector<int32_t>{50256}));
  EXPECT_GT(tok->encode("<|endoftext|>", false, false).size(), 1u);
  EXPECT_TRUE(tok->is_eog(50256));
  EXPECT_EQ(tok->token_to_piece(995), " world");
}

// ---------------------------------------------------------------------------------------
// The fast encoders (chunking, heaps, per-call caches) against naive quadratic versions of
// the same algorithms, on real text and random strings.

std::vector<std::string> reference_texts() {
  std::vector<std::string> texts;
  std::istringstream in(
      read_file(::ll::testing::shared_path("corpora/wikitext-2-raw-wiki.test.raw")));
  std::string line;
  while (std::getline(in, line) && texts.size() < 250) {
    if (line.size() > 2 && line.size() < 700) texts.push_back(line);
  }
  std::mt19937 rng(5);
  for (int i = 0; i < 500; ++i) texts.push_back(random_text(rng));
  return texts;
}

std::vector<int32_t> naive_spm(const Tokenizer& tok, const std::string& text) {
  const Vocab& v = tok.vocab();
  if (text.empty()) return {};
  std::string t = "\xE2\x96\x81";
  for (char c : text) t += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
  std::vector<std::string> syms;
  for (size_t k = 0; k < t.size();) {
    const size_t len = decode_utf8(t.data() + k, t.size() - k).len;
    syms.push_back(t.substr(k, len));
    k += len;
  }
  auto mergeable = [&](const std::string& s) {
    const int32_t id = tok.token_to_id(s);
    return id >= 0 && (v.types[id] == TokenType::kNormal || v.types[id] == TokenType::kUserDefined)
               ? id
               : -1;
  };
  while (true) {
    int best = -1;
    float best_score = 0;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      const int32_t id = mergeable(syms[i] + syms[i + 1]);
      if (id >= 0 && (best < 0 || v.scores[id] > best_score)) {
        best = static_cast<int>(i);
        best_score = v.scores[id];
      }
    }
    if (best < 0) break;
    syms[best] += syms[best + 1];
    syms.erase(syms.begin() + best + 1);
  }
  std::vector<int32_t> out;
  for (const std::string& s : syms) {
    const int32_t id = mergeable(s);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (unsigned char c : s) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", c);
      out.push_back(tok.token_to_id(name));
    }
  }
  return out;
}

std::vector<int32_t> naive_bpe(const Tokenizer& tok, const std::map<std::string, int>& ranks,
                               const std::string& text) {
  std::vector<Span> words;
  PreTokenizeScratch scratch;
  pre_tokenize(tok.vocab().pre, text, words, scratch);
  std::vector<int32_t> out;
  for (Span w : words) {
    std::vector<std::string> syms;
    for (size_t k = w.begin; k < w.end; ++k) {
      // GPT-2 byte-to-unicode, written out independently of the library's table.
      const auto b = static_cast<unsigned char>(text[k]);
      uint32_t cp = b;
      if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE))) {
        int n = 0;
        for (int x = 0; x < b; ++x) {
          if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) ++n;
        }
        cp = 256 + n;
      }
      std::string s;
      append_utf8(s, cp);
      syms.push_back(s);
    }
    while (syms.size() > 1) {
      int best = -1, best_rank = 0;
      for (size_t i = 0; i + 1 < syms.size(); ++i) {
        auto it = ranks.find(syms[i] + " " + syms[i + 1]);
        if (it != ranks.end() && tok.token_to_id(syms[i] + syms[i + 1]) >= 0 &&
            (best < 0 || it->second < best_rank)) {
          best = static_cast<int>(i);
          best_rank = it->second;
        }
      }
      if (best < 0) break;
      syms[best] += syms[best + 1];
      syms.erase(syms.begin() + best + 1);
    }
    for (const std::string& s : syms) out.push_back(tok.token_to_id(s));
  }
  return out;
}

TEST(Reference, SpmMatchesNaive) {
  LL_REQUIRE_SHARED("vocab");
  LL_REQUIRE_SHARED("corpora");
  const Tokenizer* tok = load_vocab("llama-spm");
  ASSERT_NE(tok, nullptr);
  int bad = 0;
  for (const std::string& t : reference_texts()) {
    // Literal "<s>"-like text is fine: llama has no user-defined tokens.
    const auto got = tok->encode(t, false, false);
    const auto want = naive_spm(*tok, t);
    if (got != want && ++bad <= 3) ADD_FAILURE() << "'" << escaped(t) << "'";
  }
  EXPECT_EQ(bad, 0);
}

TEST(Reference, BpeMatchesNaive) {
  LL_REQUIRE_SHARED("vocab");
  LL_REQUIRE_SHARED("corpora");
  const Tokenizer* tok = load_vocab("gpt-2");
  ASSERT_NE(tok, nullptr);
  std::map<std::string, int> ranks;
  const auto& merges = tok->vocab().merges;
  for (size_t r = 0; r < merges.size(); ++r) ranks.emplace(merges[r], static_cast<int>(r));
  int bad = 0;
  for (const std::string& t : reference_texts()) {
    // gpt-2's only special token is control, so parse_special=false leaves text intact.
    const auto got = tok->encode(t, false, false);
    const auto want = naive_bpe(*tok, ranks, t);
    if (got != want && ++bad <= 3) ADD_FAILURE() << "'" << escaped(t) << "'";
  }
  EXPECT_EQ(bad, 0);
}

// ---------------------------------------------------------------------------------------
// Pre-tokenizers without a vocabulary (llama-bpe and qwen2 have no shared vectors)

std::vector<std::string> split(const char* name, std::string_view text) {
  const auto p = PreTokenizer::from_name(name);
  if (!p) {
    ADD_FAILURE() << "no pre-tokenizer " << name;
    return {};
  }
  std::vector<Span> spans;
  PreTokenizeScratch scratch;
  pre_tokenize(*p, text, spans, scratch);
  std::vector<std::string> out;
  for (Span s : spans) out.emplace_back(text.substr(s.begin, s.end - s.begin));
  return out;
}

using Words = std::vector<std::string>;

TEST(PreTokenize, Gpt2) {
  EXPECT_EQ(split("gpt-2", "Hello world's 12345  \n\n test"),
            (Words{"Hello", " world", "'s", " 12345", "  \n\n", " test"}));
  EXPECT_EQ(split("gpt-2", "I'M  ok   "), (Words{"I", "'", "M", " ", " ok", "   "}));
  EXPECT_EQ(split("gpt-2", "\tx"), (Words{"\t", "x"}));
  EXPECT_EQ(split("gpt-2", "Ünïcödé ßtraße"), (Words{"Ünïcödé", " ßtraße"}));
}

TEST(PreTokenize, Llama3AndQwen2) {
  EXPECT_EQ(split("llama-bpe", "Hello world's 12345  \n\n test"),
            (Words{"Hello", " world", "'s", " ", "123", "45", "  \n\n", " test"}));
  EXPECT_EQ(split("qwen2", "Hello world's 12345  \n\n test"),
            (Words{"Hello", " world", "'s", " ", "1", "2", "3", "4", "5", "  \n\n", " test"}));
  EXPECT_EQ(split("llama-bpe", "I'M (x)\n\tfoo...\n\n"),
            (Words{"I", "'M", " (", "x", ")\n", "\tfoo", "...\n\n"}));
  EXPECT_EQ(split("llama-bpe", "a  \t b"), (Words{"a", "  \t", " b"}));
}

TEST(PreTokenize, InvalidUtf8IsOther) {
  EXPECT_EQ(split("gpt-2", "ab\xFF\xFE cd"), (Words{"ab", "\xFF\xFE", " cd"}));
  EXPECT_EQ(split("deepseek-llm", "ab\xFF cd"), (Words{"ab", "\xFF", " cd"}));
}

TEST(Unicode, Classes) {
  EXPECT_EQ(char_class('a'), CharClass::kLetter);
  EXPECT_EQ(char_class(0x4E2D), CharClass::kLetter);   // 中
  EXPECT_EQ(char_class(0x0663), CharClass::kNumber);   // ٣
  EXPECT_EQ(char_class(0x2167), CharClass::kNumber);   // Ⅷ (Nl)
  EXPECT_EQ(char_class(0x3001), CharClass::kPunct);    // 、
  EXPECT_EQ(char_class(0x1F680), CharClass::kSymbol);  // 🚀
  EXPECT_EQ(char_class(0x0301), CharClass::kMark);
  EXPECT_TRUE(is_whitespace(0x3000));
  EXPECT_TRUE(is_whitespace(0x85));
  EXPECT_FALSE(is_whitespace(0x200B));  // zero-width space is not White_Space
  EXPECT_FALSE(is_whitespace(0x1C));
  EXPECT_EQ(char_class(0x10FFFF), CharClass::kOther);
  EXPECT_EQ(char_class(kInvalidCodepoint), CharClass::kOther);
  EXPECT_EQ(utf8_emittable_prefix("a\xE2\x96"), 1u);
  EXPECT_EQ(utf8_emittable_prefix("a\xE2\x96\x81"), 4u);
  EXPECT_EQ(utf8_emittable_prefix("a\xE0\x80"), 3u);  // overlong prefix: invalid now
  EXPECT_EQ(utf8_emittable_prefix("\xF0\x9F\x98"), 0u);
}

// ---------------------------------------------------------------------------------------
// Malformed metadata: errors name the key, never crash

std::string temp_path(const std::string& name) {
  return ll::testing::temp_path(name + ".gguf");
}

struct Built {
  Status status;
  std::unique_ptr<Tokenizer> tok;
};

Built build(const gguf::Writer& w, const std::string& name) {
  const std::string path = temp_path(name);
  Status st = w.write(path);
  if (!st.is_ok()) return {st, nullptr};
  auto f = gguf::File::open(path);
  std::filesystem::remove(path);
  if (!f.is_ok()) return {f.status(), nullptr};
  auto t = Tokenizer::from_gguf(**f);
  if (!t.is_ok()) return {t.status(), nullptr};
  return {Status::ok(), std::move(*t)};
}

gguf::Writer spm_writer() {
  gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens",
                     {"<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "▁ab", "<0x0A>"});
  w.set_f32_array("tokenizer.ggml.scores", {0, 0, 0, -1, -2, -2, -3, -1, -0.5, 0});
  w.set_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1, 1, 1, 1, 6});
  return w;
}

gguf::Writer bpe_writer() {
  gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string_array("tokenizer.ggml.tokens", {"a", "b", "Ġ", "ab", "Ġa", "<eos>"});
  w.set_i32_array("tokenizer.ggml.token_type", {1, 1, 1, 1, 1, 3});
  w.set_string_array("tokenizer.ggml.merges", {"a b", "Ġ a"});
  w.set_u32("tokenizer.ggml.eos_token_id", 5);
  return w;
}

TEST(Metadata, SyntheticVocabsWork) {
  auto spm = build(spm_writer(), "spm");
  ASSERT_TRUE(spm.status.is_ok()) << spm.status.to_string();
  EXPECT_EQ(spm.tok->encode("ab a\n", true, false), (std::vector<int32_t>{1, 8, 6, 9}));
  EXPECT_EQ(spm.tok->decode({1, 8, 6, 9}), "ab a\n");
  // 'c' has no piece and no byte token: it becomes <unk>.
  EXPECT_EQ(spm.tok->encode("c", false, false), (std::vector<int32_t>{3, 0}));

  auto bpe = build(bpe_writer(), "bpe");
  ASSERT_TRUE(bpe.status.is_ok()) << bpe.status.to_string();
  EXPECT_EQ(bpe.tok->encode("ab a", false, false), (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(bpe.tok->decode({3, 4}), "ab a");
  EXPECT_TRUE(bpe.tok->is_eog(5));
  EXPECT_EQ(bpe.tok->vocab().pre, PreTokenizer::gpt2());  // no pre key: gpt-2
}

void expect_error(const gguf::Writer& w, const std::string& name, const std::string& key) {
  auto b = build(w, name);
  ASSERT_FALSE(b.status.is_ok()) << name;
  EXPECT_NE(b.status.message().find(key), std::string::npos) << b.status.to_string();
}

TEST(Metadata, ErrorsNameTheKey) {
  gguf::Writer none;
  none.set_string("general.architecture", "llama");
  expect_error(none, "nomodel", "tokenizer.ggml.model");

  auto w = spm_writer();
  w.set_string("tokenizer.ggml.model", "t5");
  expect_error(w, "t5", "tokenizer.ggml.model");

  w = spm_writer();
  w.set_i32_array("tokenizer.ggml.token_type", {2, 3, 3});
  expect_error(w, "shorttypes", "tokenizer.ggml.token_type");

  w = spm_writer();
  w.set_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1, 1, 1, 1, 9});
  expect_error(w, "badtype", "tokenizer.ggml.token_type");

  w = spm_writer();
  w.set_f32_array("tokenizer.ggml.scores", {1, 2});
  expect_error(w, "shortscores", "tokenizer.ggml.scores");

  w = spm_writer();
  w.set_string("tokenizer.ggml.tokens", "oops");
  expect_error(w, "tokensnotarray", "tokenizer.ggml.tokens");

  w = spm_writer();
  w.set_string_array("tokenizer.ggml.tokens", {});
  expect_error(w, "notokens", "tokenizer.ggml.tokens");

  w = spm_writer();
  w.set_string("tokenizer.ggml.bos_token_id", "one");
  expect_error(w, "bosstring", "tokenizer.ggml.bos_token_id");

  auto b = bpe_writer();
  b.set_string_array("tokenizer.ggml.merges", {"a b", "nospace"});
  expect_error(b, "badmerge", "tokenizer.ggml.merges");

  gguf::Writer nomerges;
  nomerges.set_string("tokenizer.ggml.model", "gpt2");
  nomerges.set_string_array("tokenizer.ggml.tokens", {"a"});
  expect_error(nomerges, "nomerges", "tokenizer.ggml.merges");
}

TEST(Metadata, ToleratedProblems) {
  // Merges naming non-tokens are skipped; out-of-range ids are dropped; unknown pre falls
  // back to gpt-2 (each with a warning on stderr).
  auto b = bpe_writer();
  b.set_string_array("tokenizer.ggml.merges", {"a b", "x y", "Ġ a"});
  b.set_u32("tokenizer.ggml.padding_token_id", 1000);
  b.set_u32("tokenizer.ggml.bos_token_id", 0xFFFFFFFFu);
  b.set_string("tokenizer.ggml.pre", "no-such-pre");
  auto r = build(b, "tolerated");
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(r.tok->pad_id(), -1);
  EXPECT_EQ(r.tok->bos_id(), -1);
  EXPECT_EQ(r.tok->vocab().pre, PreTokenizer::gpt2());
  EXPECT_EQ(r.tok->encode("ab a", false, false), (std::vector<int32_t>{3, 4}));
  // Bytes without a symbol in this tiny vocabulary are dropped (no <unk> id exists).
  EXPECT_EQ(r.tok->encode("z", false, false), (std::vector<int32_t>{}));
}

}  // namespace
}  // namespace ll::tok
