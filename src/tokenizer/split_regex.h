// The regex dialect of pre-tokenizer split patterns (the "Split" and "ByteLevel" steps of a
// tokenizer.json, run by Oniguruma in Hugging Face tokenizers), as a small backtracking
// matcher: std::regex has no \p{L}, and these patterns need only a handful of constructs.
//
// Supported: literals (UTF-8), `.`; classes `[...]` with `^`, ranges, escapes and nested
// classes (a union, as in Oniguruma); `\s \S \r \n \t \f \v`, `\x{HHHH}`, `\p{X}` / `\P{X}` for
// X in L Lu Ll Lt Lm Lo M N P S Z C; escaped punctuation; groups `(...)`, `(?:...)`,
// `(?i:...)` (ASCII letters plus the long s and Kelvin sign that fold to them), lookaheads
// `(?=...)` `(?!...)`; greedy `? * + {n} {n,} {n,m}`; `$` (end of the piece or before '\n',
// Ruby syntax). Anything else is a compile error, never a silent approximation.
//
// Semantics are Oniguruma's: at a start position the alternatives are tried in order, each
// quantifier greedy with backtracking, and the first success wins.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace ll::tok {

// The text a pattern runs on: one entry per char, a code point (or, in byte-level steps, the
// GPT-2 image of one byte) and its char_flags().
struct CharView {
  const uint32_t* cp;
  const uint8_t* fl;
};

class SplitRegex {
 public:
  static Result<SplitRegex> compile(std::string_view pattern);

  // Per-call working memory; one per thread.
  struct State {
    struct Frame {
      int32_t pc;
      uint32_t pos;
      uint32_t lo;  // kNoRun for a plain alternative, else the lowest end a run may retry
    };
    std::vector<Frame> stack;
    // Per top-level alternative: it is known to fail at every start position below this
    // (see leading_run in the .cpp).
    std::vector<uint32_t> fail_below;
    uint64_t steps = 0;  // instructions executed, so tests can check the work is linear
  };

  // Call before matching inside a new piece (the memo in State is per piece).
  void start_piece(State& st) const;
  // End of the match starting at i inside the current piece, which ends at e; i when there
  // is none (an empty match counts as none: an isolated split drops empty pieces).
  size_t match_at(const CharView& t, size_t i, size_t e, State& st) const;

  const std::string& pattern() const { return pattern_; }

  struct Class;
  struct Inst;
  struct Alternative;

 private:
  bool run(const Alternative& a, int32_t pc, const CharView& t, size_t pos, size_t e, size_t* end,
           State& st) const;

  std::string pattern_;
  std::vector<Class> classes_;
  std::vector<Alternative> alts_;
  friend class RegexCompiler;
};

// Defined here so SplitRegex is a complete value type.
struct SplitRegex::Class {
  struct Item {
    enum Kind : uint8_t { kRange, kCategories, kSpace, kNotSpace, kNested } kind;
    uint32_t lo = 0, hi = 0;  // kRange (inclusive); kNested: class index in lo
    uint16_t cats = 0;        // kCategories: bit set of category_bit()
  };
  bool negated = false;
  std::vector<Item> items;
  uint64_t ascii[2] = {0, 0};  // membership of code points 0..127, negation applied
};

struct SplitRegex::Inst {
  enum Op : uint8_t { kRun, kSplit, kJmp, kEnd, kLookPos, kLookNeg, kMatch } op;
  int32_t cls = -1;           // kRun
  uint32_t min = 0, max = 0;  // kRun
  int32_t x = -1, y = -1;     // kSplit: prefer x; kJmp: x; kLook*: sub-program start x
};

struct SplitRegex::Alternative {
  std::vector<Inst> prog;    // ends with kMatch; lookahead bodies follow, each ending in kMatch
  int32_t first = -1;        // class every match starts with, -1 when unknown
  bool leading_run = false;  // prog[0] is an unbounded run (enables the fail_below memo)
};

}  // namespace ll::tok
