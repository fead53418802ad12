#include "tokenizer/pretokenize_reference.h"

#include <algorithm>
#include <iterator>

#include "tokenizer/unicode.h"

// The hand-written pre-tokenizers this project used before the pattern table (each matcher
// transcribed from its model's regex by hand), kept as an independent reference: the table and
// its regex engine must split exactly as they do on any input.
//
// The patterns implemented here (as published with each model's tokenizer.json; PCRE /
// Oniguruma semantics: ordered alternation, leftmost match, greedy with backtracking):
//
// gpt-2:     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// llama-bpe: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//            | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// qwen2:     as llama-bpe but \p{N} (single digits) instead of \p{N}{1,3}
// deepseek-llm (a sequence of "isolated" splits; each applies to the pieces of the previous
// one, and both matches and the gaps between them become pieces):
//            [\r\n]
//            \s?[<cased letters, kDeepseekLetters below>]+
//            \s?[!-/:-~！-／：-～‘-‟　-。]+
//            \s+$
//            [一-龥ࠀ-一가-퟿]+
//            \p{N}+
// deepseek-coder: [\r\n], \s?\p{L}+, \s?\p{P}+, [一-龥ࠀ-一가-퟿]+, \p{N}
//
// Each matcher below takes a start position and returns the end of the match there (or
// the start itself for "no match"), working on decoded code points.

namespace ll::tok::reference {

namespace {

struct Range {
  uint32_t lo, hi;  // inclusive
};

// deepseek-llm's letter class, transcribed from its pattern (it is Unicode's cased letters
// Lu/Ll/Lt as of the Unicode version the model was trained with, so it is kept literal
// instead of derived from our tables).
constexpr Range kDeepseekLetters[] = {
    {0x41, 0x5a},       {0x61, 0x7a},       {0xb5, 0xb5},       {0xc0, 0xd6},
    {0xd8, 0xf6},       {0xf8, 0x1ba},      {0x1bc, 0x1bf},     {0x1c4, 0x293},
    {0x295, 0x2af},     {0x370, 0x373},     {0x376, 0x377},     {0x37b, 0x37d},
    {0x37f, 0x37f},     {0x386, 0x386},     {0x388, 0x38a},     {0x38c, 0x38c},
    {0x38e, 0x3a1},     {0x3a3, 0x3f5},     {0x3f7, 0x481},     {0x48a, 0x52f},
    {0x531, 0x556},     {0x10a0, 0x10c5},   {0x13a0, 0x13f5},   {0x13f8, 0x13fd},
    {0x1c90, 0x1cba},   {0x1cbd, 0x1cbf},   {0x1d00, 0x1d2b},   {0x1d6b, 0x1d77},
    {0x1d79, 0x1d9a},   {0x1e00, 0x1f15},   {0x1f18, 0x1f1d},   {0x1f20, 0x1f45},
    {0x1f48, 0x1f4d},   {0x1f50, 0x1f57},   {0x1f59, 0x1f59},   {0x1f5b, 0x1f5b},
    {0x1f5d, 0x1f5d},   {0x1f5f, 0x1f7d},   {0x1f80, 0x1fb4},   {0x1fb6, 0x1fbc},
    {0x1fbe, 0x1fbe},   {0x1fc2, 0x1fc4},   {0x1fc6, 0x1fcc},   {0x1fd0, 0x1fd3},
    {0x1fd6, 0x1fdb},   {0x1fe0, 0x1fec},   {0x1ff2, 0x1ff4},   {0x1ff6, 0x1ffc},
    {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210a, 0x2113},   {0x2115, 0x2115},
    {0x2119, 0x211d},   {0x2124, 0x2124},   {0x2126, 0x2126},   {0x2128, 0x2128},
    {0x212a, 0x212d},   {0x212f, 0x2134},   {0x2139, 0x2139},   {0x213c, 0x213f},
    {0x2145, 0x2149},   {0x214e, 0x214e},   {0x2183, 0x2184},   {0x2c00, 0x2c7b},
    {0x2c7e, 0x2ce4},   {0x2ceb, 0x2cee},   {0x2cf2, 0x2cf3},   {0xa640, 0xa66d},
    {0xa680, 0xa69b},   {0xa722, 0xa76f},   {0xa771, 0xa787},   {0xa78b, 0xa78e},
    {0xab70, 0xabbf},   {0xfb00, 0xfb06},   {0xfb13, 0xfb17},   {0xff21, 0xff3a},
    {0xff41, 0xff5a},   {0x10400, 0x1044f}, {0x104b0, 0x104d3}, {0x104d8, 0x104fb},
    {0x10c80, 0x10cb2}, {0x10cc0, 0x10cf2}, {0x118a0, 0x118df}, {0x1e900, 0x1e943},
};

// deepseek-llm's punctuation class [!-/:-~！-／：-～‘-‟　-。] (note :-~ spans ASCII letters).
constexpr Range kDeepseekPunct[] = {
    {0x21, 0x2f},     {0x3a, 0x7e},     {0x2018, 0x201f},
    {0x3000, 0x3002}, {0xff01, 0xff0f}, {0xff1a, 0xff5e},
};

template <size_t N>
bool in_ranges(const Range (&r)[N], uint32_t cp) {
  auto it = std::upper_bound(std::begin(r), std::end(r), cp,
                             [](uint32_t v, const Range& x) { return v < x.lo; });
  return it != std::begin(r) && cp <= it[-1].hi;
}

// [一-龥ࠀ-一가-퟿]: U+4E00..U+9FA5, U+0800..U+4E00, U+AC00..U+D7FF.
bool is_deepseek_cjk(uint32_t cp) {
  return (cp >= 0x800 && cp <= 0x9FA5) || (cp >= 0xAC00 && cp <= 0xD7FF);
}

struct Text {
  const uint32_t* cp;
  const uint8_t* fl;

  uint8_t cls(size_t i) const { return fl[i] & kClassMask; }
  bool letter(size_t i) const { return cls(i) == uint8_t(CharClass::kLetter); }
  bool number(size_t i) const { return cls(i) == uint8_t(CharClass::kNumber); }
  bool punct(size_t i) const { return cls(i) == uint8_t(CharClass::kPunct); }
  bool ws(size_t i) const { return (fl[i] & kWhitespaceFlag) != 0; }
  // [^\s\p{L}\p{N}]
  bool other(size_t i) const { return !ws(i) && !letter(i) && !number(i); }
  bool newline(size_t i) const { return cp[i] == '\r' || cp[i] == '\n'; }
};

uint32_t ascii_lower(uint32_t c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

// Contractions 's 't 're 've 'm 'll 'd starting at i (cp[i] == '\''); returns i if none.
size_t match_contraction(const Text& t, size_t i, size_t e, bool ignore_case) {
  if (i + 1 >= e) return i;
  auto norm = [&](uint32_t c) { return ignore_case ? ascii_lower(c) : c; };
  const uint32_t c1 = norm(t.cp[i + 1]);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
  if (i + 2 < e) {
    const uint32_t c2 = norm(t.cp[i + 2]);
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
      return i + 3;
    }
  }
  return i;
}

// \s+(?!\S)|\s+ at a whitespace char: a run followed by a non-space gives back its last
// char (so " word" can take it), unless the run is a single char.
size_t match_space_run(const Text& t, size_t i, size_t e) {
  size_t j = i;
  while (j < e && t.ws(j)) ++j;
  if (j == e || j - i == 1) return j;
  return j - 1;
}

size_t match_gpt2(const Text& t, size_t i, size_t e) {
  if (t.cp[i] == '\'') {
    const size_t m = match_contraction(t, i, e, /*ignore_case=*/false);
    if (m > i) return m;
  }
  // The optional leading space of the next three alternatives; a space can only help
  // when followed by the class, and a space itself is never in any of the classes.
  const size_t j0 = (t.cp[i] == ' ' && i + 1 < e) ? i + 1 : i;
  size_t j = j0;
  if (t.letter(j0)) {
    while (j < e && t.letter(j)) ++j;
    return j;
  }
  if (t.number(j0)) {
    while (j < e && t.number(j)) ++j;
    return j;
  }
  if (t.other(j0)) {
    while (j < e && t.other(j)) ++j;
    return j;
  }
  return match_space_run(t, i, e);
}

size_t match_llama3(const Text& t, size_t i, size_t e, size_t max_digits) {
  if (t.cp[i] == '\'') {
    const size_t m = match_contraction(t, i, e, /*ignore_case=*/true);
    if (m > i) return m;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (t.letter(i) || (!t.newline(i) && !t.number(i) && i + 1 < e && t.letter(i + 1))) {
    size_t j = i + 1;
    while (j < e && t.letter(j)) ++j;
    return j;
  }
  // \p{N}{1,3}
  if (t.number(i)) {
    size_t j = i + 1;
    while (j < e && j - i < max_digits && t.number(j)) ++j;
    return j;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const size_t j0 = (t.cp[i] == ' ' && i + 1 < e) ? i + 1 : i;
  if (t.other(j0)) {
    size_t j = j0 + 1;
    while (j < e && t.other(j)) ++j;
    while (j < e && t.newline(j)) ++j;
    return j;
  }
  // \s*[\r\n]+ : the whitespace run up to and including its last newline.
  size_t r = i, last_nl = e;
  while (r < e && t.ws(r)) {
    if (t.newline(r)) last_nl = r;
    ++r;
  }
  if (last_nl != e) return last_nl + 1;
  if (r > i) return match_space_run(t, i, e);
  return i + 1;  // not reached: every char is a letter, number, other or whitespace
}

// \s?[class]+ for a predicate over positions.
template <typename InClass>
size_t match_opt_space_run(const Text& t, size_t i, size_t e, InClass in_class) {
  size_t j = i;
  if (t.ws(i) && i + 1 < e && in_class(i + 1)) {
    j = i + 1;
  } else if (!in_class(i)) {
    return i;
  }
  while (j < e && in_class(j)) ++j;
  return j;
}

// One "isolated" split step: matches and the gaps between them both become pieces.
template <typename Match>
void split_isolated(const std::vector<Span>& in, std::vector<Span>& out, Match match) {
  out.clear();
  for (const Span s : in) {
    size_t gap = s.begin, i = s.begin;
    while (i < s.end) {
      const size_t m = match(i, size_t(s.end));
      if (m > i) {
        if (gap < i) out.push_back({uint32_t(gap), uint32_t(i)});
        out.push_back({uint32_t(i), uint32_t(m)});
        i = gap = m;
      } else {
        ++i;
      }
    }
    if (gap < s.end) out.push_back({uint32_t(gap), s.end});
  }
}

// \s+$ splits off each piece's trailing whitespace run; done directly because trying the
// pattern at every position of a long inner whitespace run would be quadratic.
void split_trailing_space(const Text& t, const std::vector<Span>& in, std::vector<Span>& out) {
  out.clear();
  for (const Span s : in) {
    uint32_t k = s.end;
    while (k > s.begin && t.ws(k - 1)) --k;
    if (k > s.begin) out.push_back({s.begin, k});
    if (k < s.end) out.push_back({k, s.end});
  }
}

}  // namespace

void pre_tokenize(RefPre p, std::string_view text, std::vector<Span>& out) {
  RefScratch s;
  if (text.empty()) return;
  s.cps.clear();
  s.flags.clear();
  s.offs.clear();
  for (size_t i = 0; i < text.size();) {
    const Utf8Char c = decode_utf8(text.data() + i, text.size() - i);
    s.cps.push_back(c.cp);
    s.flags.push_back(c.cp == kInvalidCodepoint ? uint8_t(CharClass::kOther) : char_flags(c.cp));
    s.offs.push_back(uint32_t(i));
    i += c.len;
  }
  s.offs.push_back(uint32_t(text.size()));
  const size_t n = s.cps.size();
  const Text t{s.cps.data(), s.flags.data()};

  std::vector<Span>* cur = &s.a;
  std::vector<Span>* nxt = &s.b;
  cur->assign(1, Span{0, uint32_t(n)});
  auto step = [&](auto match) {
    split_isolated(*cur, *nxt, match);
    std::swap(cur, nxt);
  };
  auto is_cjk = [&](size_t i) { return is_deepseek_cjk(t.cp[i]); };

  switch (p) {
    case RefPre::kGpt2:
      step([&](size_t i, size_t e) { return match_gpt2(t, i, e); });
      break;
    case RefPre::kLlama3:
      step([&](size_t i, size_t e) { return match_llama3(t, i, e, 3); });
      break;
    case RefPre::kQwen2:
      step([&](size_t i, size_t e) { return match_llama3(t, i, e, 1); });
      break;
    case RefPre::kDeepseekLlm:
      step([&](size_t i, size_t) { return t.newline(i) ? i + 1 : i; });
      step([&](size_t i, size_t e) {
        return match_opt_space_run(t, i, e,
                                   [&](size_t k) { return in_ranges(kDeepseekLetters, t.cp[k]); });
      });
      step([&](size_t i, size_t e) {
        return match_opt_space_run(t, i, e,
                                   [&](size_t k) { return in_ranges(kDeepseekPunct, t.cp[k]); });
      });
      split_trailing_space(t, *cur, *nxt);
      std::swap(cur, nxt);
      step([&](size_t i, size_t e) {
        size_t j = i;
        while (j < e && is_cjk(j)) ++j;
        return j;
      });
      step([&](size_t i, size_t e) {
        size_t j = i;
        while (j < e && t.number(j)) ++j;
        return j;
      });
      break;
    case RefPre::kDeepseekCoder:
      step([&](size_t i, size_t) { return t.newline(i) ? i + 1 : i; });
      step([&](size_t i, size_t e) {
        return match_opt_space_run(t, i, e, [&](size_t k) { return t.letter(k); });
      });
      step([&](size_t i, size_t e) {
        return match_opt_space_run(t, i, e, [&](size_t k) { return t.punct(k); });
      });
      step([&](size_t i, size_t e) {
        size_t j = i;
        while (j < e && is_cjk(j)) ++j;
        return j;
      });
      step([&](size_t i, size_t) { return t.number(i) ? i + 1 : i; });
      break;
  }
  for (const Span w : *cur) out.push_back({s.offs[w.begin], s.offs[w.end]});
}

}  // namespace ll::tok::reference
