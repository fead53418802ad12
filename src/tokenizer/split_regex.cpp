#include "tokenizer/split_regex.h"

#include <memory>

#include "tokenizer/unicode.h"

namespace ll::tok {

namespace {

constexpr uint32_t kInf = UINT32_MAX;
constexpr uint32_t kNoRun = UINT32_MAX;

// One bit per category a \p{..} can name: letters by kind, the other classes by major category.
uint16_t category_bit(uint8_t fl) {
  const auto cls = CharClass(fl & kClassMask);
  switch (cls) {
    case CharClass::kLetter:
      return uint16_t(1u << unsigned(letter_kind(fl)));  // bits 1..5
    case CharClass::kMark:
      return 1u << 6;
    case CharClass::kNumber:
      return 1u << 7;
    case CharClass::kPunct:
      return 1u << 8;
    case CharClass::kSymbol:
      return 1u << 9;
    case CharClass::kSeparator:
      return 1u << 10;
    case CharClass::kOther:
      break;
  }
  return 1u << 11;
}

constexpr uint16_t kCatLetters = 0x3E;

bool category_mask(std::string_view name, uint16_t* mask) {
  static const struct {
    const char* name;
    uint16_t mask;
  } kNames[] = {
      {"L", kCatLetters}, {"Lu", 1u << 1}, {"Ll", 1u << 2}, {"Lt", 1u << 3},
      {"Lm", 1u << 4},    {"Lo", 1u << 5}, {"M", 1u << 6},  {"N", 1u << 7},
      {"P", 1u << 8},     {"S", 1u << 9},  {"Z", 1u << 10}, {"C", 1u << 11},
  };
  for (const auto& n : kNames) {
    if (name == n.name) {
      *mask = n.mask;
      return true;
    }
  }
  return false;
}

}  // namespace

// Shared by the compiler (to fill the ASCII bitmaps) and the matcher.
static bool class_contains(const std::vector<SplitRegex::Class>& classes, int32_t ci, uint32_t cp,
                           uint8_t fl) {
  const SplitRegex::Class& c = classes[ci];
  bool in = false;
  for (const auto& it : c.items) {
    switch (it.kind) {
      case SplitRegex::Class::Item::kRange:
        in = cp >= it.lo && cp <= it.hi;
        break;
      case SplitRegex::Class::Item::kCategories:
        in = (category_bit(fl) & it.cats) != 0;
        break;
      case SplitRegex::Class::Item::kSpace:
        in = (fl & kWhitespaceFlag) != 0;
        break;
      case SplitRegex::Class::Item::kNotSpace:
        in = (fl & kWhitespaceFlag) == 0;
        break;
      case SplitRegex::Class::Item::kNested:
        in = class_contains(classes, int32_t(it.lo), cp, fl);
        break;
    }
    if (in) break;
  }
  return in != c.negated;
}

static inline bool class_match(const std::vector<SplitRegex::Class>& classes, int32_t ci,
                               uint32_t cp, uint8_t fl) {
  if (cp < 128) return (classes[ci].ascii[cp >> 6] >> (cp & 63)) & 1;
  return class_contains(classes, ci, cp, fl);
}

// ---------------------------------------------------------------------------------------
// Parsing into a tree, then compiling each top-level alternative into a backtracking program.

struct Node {
  enum Kind { kClass, kSeq, kAlt, kRepeat, kLookPos, kLookNeg, kEnd } kind;
  int32_t cls = -1;
  uint32_t min = 1, max = 1;
  std::vector<Node> kids;
};

class RegexCompiler {
 public:
  explicit RegexCompiler(std::string_view p) : p_(p) {}

  Result<SplitRegex> compile() {
    SplitRegex re;
    re.pattern_ = std::string(p_);
    classes_ = &re.classes_;
    Node root;
    if (Status st = parse_alt(&root, /*fold=*/false); !st.is_ok()) return st;
    if (i_ != p_.size()) return error("unbalanced ')'");
    std::vector<Node> alts;
    if (root.kind == Node::kAlt) {
      alts = std::move(root.kids);
    } else {
      alts.push_back(std::move(root));
    }
    for (Node& a : alts) {
      SplitRegex::Alternative alt;
      if (Status st = emit(a, alt.prog); !st.is_ok()) return st;
      alt.prog.push_back({SplitRegex::Inst::kMatch});
      // Lookahead bodies were queued while emitting; append them and patch their starts.
      while (!pending_looks_.empty()) {
        auto [inst_index, node] = std::move(pending_looks_.back());
        pending_looks_.pop_back();
        alt.prog[inst_index].x = int32_t(alt.prog.size());
        if (Status st = emit(*node, alt.prog); !st.is_ok()) return st;
        alt.prog.push_back({SplitRegex::Inst::kMatch});
      }
      alt.leading_run = alt.prog[0].op == SplitRegex::Inst::kRun && alt.prog[0].max == kInf;
      bool nullable = false, any = false;
      std::vector<int32_t> firsts;
      first_set(a, &firsts, &nullable, &any);
      if (!nullable && !any) {
        if (firsts.size() == 1) {
          alt.first = firsts[0];
        } else {
          SplitRegex::Class u;
          for (int32_t c : firsts)
            u.items.push_back({SplitRegex::Class::Item::kNested, uint32_t(c)});
          alt.first = add_class(std::move(u));
        }
      }
      re.alts_.push_back(std::move(alt));
    }
    for (size_t c = 0; c < re.classes_.size(); ++c) fill_ascii(re.classes_, int32_t(c));
    return re;
  }

 private:
  Status error(const std::string& what) const {
    return invalid_argument("split pattern '" + std::string(p_) + "' at offset " +
                            std::to_string(i_) + ": " + what);
  }
  bool at_end() const { return i_ >= p_.size(); }
  char peek() const { return p_[i_]; }

  int32_t add_class(SplitRegex::Class c) {
    classes_->push_back(std::move(c));
    return int32_t(classes_->size() - 1);
  }
  static void fill_ascii(std::vector<SplitRegex::Class>& classes, int32_t ci) {
    uint64_t bits[2] = {0, 0};
    for (uint32_t cp = 0; cp < 128; ++cp) {
      if (class_contains(classes, ci, cp, char_flags(cp)))
        bits[cp >> 6] |= uint64_t(1) << (cp & 63);
    }
    classes[ci].ascii[0] = bits[0];
    classes[ci].ascii[1] = bits[1];
  }

  Result<uint32_t> literal_cp() {
    const Utf8Char c = decode_utf8(p_.data() + i_, p_.size() - i_);
    if (c.cp == kInvalidCodepoint) return error("invalid UTF-8");
    i_ += c.len;
    return c.cp;
  }

  // Items for one literal code point, with ASCII case folding under (?i).
  static void add_literal(SplitRegex::Class* c, uint32_t cp, bool fold) {
    using Item = SplitRegex::Class::Item;
    c->items.push_back({Item::kRange, cp, cp});
    if (!fold) return;
    const uint32_t lower = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    if (lower >= 'a' && lower <= 'z') {
      c->items.push_back({Item::kRange, lower, lower});
      c->items.push_back({Item::kRange, lower - 32, lower - 32});
      if (lower == 's') c->items.push_back({Item::kRange, 0x17F, 0x17F});    // long s
      if (lower == 'k') c->items.push_back({Item::kRange, 0x212A, 0x212A});  // Kelvin sign
    }
  }

  // After a backslash. Sets *item for a set escape, else *cp for a literal.
  Status parse_escape(SplitRegex::Class::Item* item, bool* is_set, uint32_t* cp) {
    using Item = SplitRegex::Class::Item;
    if (at_end()) return error("trailing backslash");
    const char c = p_[i_++];
    *is_set = false;
    switch (c) {
      case 's':
        *is_set = true;
        *item = {Item::kSpace};
        return Status::ok();
      case 'S':
        *is_set = true;
        *item = {Item::kNotSpace};
        return Status::ok();
      case 'p':
      case 'P': {
        if (at_end() || peek() != '{') return error("expected '{' after \\p");
        const size_t close = p_.find('}', i_);
        if (close == std::string_view::npos) return error("unterminated \\p{");
        uint16_t mask = 0;
        if (!category_mask(p_.substr(i_ + 1, close - i_ - 1), &mask)) {
          return error("unsupported property");
        }
        i_ = close + 1;
        *is_set = true;
        *item = {Item::kCategories};
        item->cats = c == 'p' ? mask : uint16_t(~mask & 0xFFE);
        return Status::ok();
      }
      case 'x': {
        if (at_end() || peek() != '{') return error("expected '{' after \\x");
        const size_t close = p_.find('}', i_);
        if (close == std::string_view::npos || close == i_ + 1) return error("bad \\x{}");
        uint32_t v = 0;
        for (size_t k = i_ + 1; k < close; ++k) {
          const char h = p_[k];
          const int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
          if (d < 0 || v > 0x10FFFF) return error("bad \\x{}");
          v = v * 16 + uint32_t(d);
        }
        if (v > 0x10FFFF) return error("bad \\x{}");
        i_ = close + 1;
        *cp = v;
        return Status::ok();
      }
      case 'r':
        *cp = '\r';
        return Status::ok();
      case 'n':
        *cp = '\n';
        return Status::ok();
      case 't':
        *cp = '\t';
        return Status::ok();
      case 'f':
        *cp = '\f';
        return Status::ok();
      case 'v':
        *cp = '\v';
        return Status::ok();
      default:
        // Only punctuation may be escaped to stand for itself; letters and digits would be
        // escapes we do not implement (\d, \w, \b, ...).
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
          --i_;
          return error(std::string("unsupported escape \\") + c);
        }
        *cp = uint8_t(c);
        return Status::ok();
    }
  }

  // At the char after '['.
  Status parse_class(int32_t* out, bool fold) {
    using Item = SplitRegex::Class::Item;
    SplitRegex::Class c;
    if (!at_end() && peek() == '^') {
      c.negated = true;
      ++i_;
    }
    bool first = true;
    while (true) {
      if (at_end()) return error("unterminated '['");
      if (peek() == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      if (peek() == '[') {
        ++i_;
        int32_t nested = -1;
        if (Status st = parse_class(&nested, fold); !st.is_ok()) return st;
        c.items.push_back({Item::kNested, uint32_t(nested)});
        continue;
      }
      uint32_t lo = 0;
      if (peek() == '\\') {
        ++i_;
        Item item{Item::kRange};
        bool is_set = false;
        if (Status st = parse_escape(&item, &is_set, &lo); !st.is_ok()) return st;
        if (is_set) {
          c.items.push_back(item);
          continue;
        }
      } else {
        auto cp = literal_cp();
        if (!cp.is_ok()) return cp.status();
        lo = *cp;
      }
      // A range "a-z"; a '-' before ']' is a literal.
      if (i_ + 1 < p_.size() && peek() == '-' && p_[i_ + 1] != ']') {
        ++i_;
        uint32_t hi = 0;
        if (peek() == '\\') {
          ++i_;
          Item item{Item::kRange};
          bool is_set = false;
          if (Status st = parse_escape(&item, &is_set, &hi); !st.is_ok()) return st;
          if (is_set) return error("a set cannot end a range");
        } else {
          auto cp = literal_cp();
          if (!cp.is_ok()) return cp.status();
          hi = *cp;
        }
        if (hi < lo) return error("empty range");
        c.items.push_back({Item::kRange, lo, hi});
      } else {
        add_literal(&c, lo, fold);
      }
    }
    *out = add_class(std::move(c));
    return Status::ok();
  }

  Status parse_alt(Node* out, bool fold) {
    std::vector<Node> alts(1);
    alts[0].kind = Node::kSeq;
    while (!at_end() && peek() != ')') {
      if (peek() == '|') {
        ++i_;
        alts.emplace_back();
        alts.back().kind = Node::kSeq;
        continue;
      }
      Node atom;
      if (Status st = parse_atom(&atom, fold); !st.is_ok()) return st;
      if (Status st = parse_quantifier(&atom); !st.is_ok()) return st;
      alts.back().kids.push_back(std::move(atom));
    }
    if (alts.size() == 1) {
      *out = std::move(alts[0]);
    } else {
      out->kind = Node::kAlt;
      out->kids = std::move(alts);
    }
    return Status::ok();
  }

  Status parse_atom(Node* out, bool fold) {
    using Item = SplitRegex::Class::Item;
    const char c = peek();
    if (c == '(') {
      ++i_;
      Node::Kind kind = Node::kSeq;
      bool inner_fold = fold;
      if (p_.substr(i_, 2) == "?:") {
        i_ += 2;
      } else if (p_.substr(i_, 3) == "?i:") {
        i_ += 3;
        inner_fold = true;
      } else if (p_.substr(i_, 2) == "?=") {
        i_ += 2;
        kind = Node::kLookPos;
      } else if (p_.substr(i_, 2) == "?!") {
        i_ += 2;
        kind = Node::kLookNeg;
      } else if (!at_end() && peek() == '?') {
        return error("unsupported group");
      }
      Node body;
      if (Status st = parse_alt(&body, inner_fold); !st.is_ok()) return st;
      if (at_end() || peek() != ')') return error("missing ')'");
      ++i_;
      if (kind == Node::kSeq) {
        *out = std::move(body);
      } else {
        out->kind = kind;
        out->kids.push_back(std::move(body));
      }
      return Status::ok();
    }
    if (c == '[') {
      ++i_;
      out->kind = Node::kClass;
      return parse_class(&out->cls, fold);
    }
    if (c == '$') {
      ++i_;
      out->kind = Node::kEnd;
      return Status::ok();
    }
    if (c == '*' || c == '+' || c == '?' || c == '{' || c == '^') {
      return error(std::string("unexpected '") + c + "'");
    }
    SplitRegex::Class cls;
    if (c == '.') {
      ++i_;
      cls.negated = true;
      cls.items.push_back({Item::kRange, '\n', '\n'});
    } else if (c == '\\') {
      ++i_;
      Item item{Item::kRange};
      bool is_set = false;
      uint32_t cp = 0;
      if (Status st = parse_escape(&item, &is_set, &cp); !st.is_ok()) return st;
      if (is_set) {
        cls.items.push_back(item);
      } else {
        add_literal(&cls, cp, fold);
      }
    } else {
      auto cp = literal_cp();
      if (!cp.is_ok()) return cp.status();
      add_literal(&cls, *cp, fold);
    }
    out->kind = Node::kClass;
    out->cls = add_class(std::move(cls));
    return Status::ok();
  }

  Status parse_number(uint32_t* v) {
    if (at_end() || peek() < '0' || peek() > '9') return error("expected a number");
    *v = 0;
    while (!at_end() && peek() >= '0' && peek() <= '9') {
      *v = *v * 10 + uint32_t(peek() - '0');
      if (*v > 1000) return error("repeat count too large");
      ++i_;
    }
    return Status::ok();
  }

  Status parse_quantifier(Node* atom) {
    if (at_end()) return Status::ok();
    uint32_t min = 0, max = 0;
    const char c = peek();
    if (c == '?') {
      min = 0, max = 1;
    } else if (c == '*') {
      min = 0, max = kInf;
    } else if (c == '+') {
      min = 1, max = kInf;
    } else if (c == '{') {
      ++i_;
      if (Status st = parse_number(&min); !st.is_ok()) return st;
      max = min;
      if (!at_end() && peek() == ',') {
        ++i_;
        max = kInf;
        if (!at_end() && peek() != '}') {
          if (Status st = parse_number(&max); !st.is_ok()) return st;
        }
      }
      if (at_end() || peek() != '}') return error("expected '}'");
      if (max < min) return error("bad repeat range");
    } else {
      return Status::ok();
    }
    ++i_;
    if (!at_end() && (peek() == '?' || peek() == '+')) {
      return error("lazy and possessive quantifiers are not supported");
    }
    if (atom->kind == Node::kLookPos || atom->kind == Node::kLookNeg || atom->kind == Node::kEnd) {
      return error("quantified assertion");
    }
    Node rep;
    rep.kind = Node::kRepeat;
    rep.min = min;
    rep.max = max;
    rep.kids.push_back(std::move(*atom));
    *atom = std::move(rep);
    return Status::ok();
  }

  static bool nullable(const Node& n) {
    switch (n.kind) {
      case Node::kClass:
        return false;
      case Node::kSeq:
        for (const Node& k : n.kids) {
          if (!nullable(k)) return false;
        }
        return true;
      case Node::kAlt:
        for (const Node& k : n.kids) {
          if (nullable(k)) return true;
        }
        return false;
      case Node::kRepeat:
        return n.min == 0 || nullable(n.kids[0]);
      default:
        return true;  // assertions consume nothing
    }
  }

  // Classes one of which the first consumed char must be in; *any when unknown.
  void first_set(const Node& n, std::vector<int32_t>* out, bool* is_nullable, bool* any) const {
    *is_nullable = nullable(n);
    switch (n.kind) {
      case Node::kClass:
        out->push_back(n.cls);
        return;
      case Node::kSeq:
        for (const Node& k : n.kids) {
          bool kn = false;
          first_set(k, out, &kn, any);
          if (!kn) return;
        }
        return;
      case Node::kAlt:
        for (const Node& k : n.kids) {
          bool kn = false;
          first_set(k, out, &kn, any);
        }
        return;
      case Node::kRepeat: {
        bool kn = false;
        first_set(n.kids[0], out, &kn, any);
        return;
      }
      default:
        return;  // assertions: transparent
    }
  }

  Status emit(const Node& n, std::vector<SplitRegex::Inst>& prog) {
    using Inst = SplitRegex::Inst;
    switch (n.kind) {
      case Node::kClass:
        prog.push_back({Inst::kRun, n.cls, 1, 1});
        return Status::ok();
      case Node::kEnd:
        prog.push_back({Inst::kEnd});
        return Status::ok();
      case Node::kSeq:
        for (const Node& k : n.kids) {
          if (Status st = emit(k, prog); !st.is_ok()) return st;
        }
        return Status::ok();
      case Node::kAlt: {
        // split L1, next; L1: a; jmp end; next: split L2, next2; ...
        std::vector<size_t> jumps;
        for (size_t k = 0; k < n.kids.size(); ++k) {
          const bool last = k + 1 == n.kids.size();
          size_t split = 0;
          if (!last) {
            split = prog.size();
            prog.push_back({Inst::kSplit});
            prog[split].x = int32_t(prog.size());
          }
          if (Status st = emit(n.kids[k], prog); !st.is_ok()) return st;
          if (!last) {
            jumps.push_back(prog.size());
            prog.push_back({Inst::kJmp});
            prog[split].y = int32_t(prog.size());
          }
        }
        for (size_t j : jumps) prog[j].x = int32_t(prog.size());
        return Status::ok();
      }
      case Node::kLookPos:
      case Node::kLookNeg:
        pending_looks_.emplace_back(prog.size(), &n.kids[0]);
        prog.push_back({n.kind == Node::kLookPos ? Inst::kLookPos : Inst::kLookNeg});
        return Status::ok();
      case Node::kRepeat:
        return emit_repeat(n, prog);
    }
    return error("internal: unknown node");
  }

  Status emit_repeat(const Node& n, std::vector<SplitRegex::Inst>& prog) {
    using Inst = SplitRegex::Inst;
    const Node& body = n.kids[0];
    if (body.kind == Node::kClass) {
      prog.push_back({Inst::kRun, body.cls, n.min, n.max});
      return Status::ok();
    }
    if (n.max == kInf && nullable(body))
      return error("unbounded repeat of an empty-matching group");
    for (uint32_t k = 0; k < n.min; ++k) {
      if (Status st = emit(body, prog); !st.is_ok()) return st;
    }
    if (n.max == kInf) {
      const size_t loop = prog.size();
      prog.push_back({Inst::kSplit});
      prog[loop].x = int32_t(prog.size());
      if (Status st = emit(body, prog); !st.is_ok()) return st;
      prog.push_back({Inst::kJmp});
      prog.back().x = int32_t(loop);
      prog[loop].y = int32_t(prog.size());
      return Status::ok();
    }
    std::vector<size_t> splits;
    for (uint32_t k = n.min; k < n.max; ++k) {
      splits.push_back(prog.size());
      prog.push_back({Inst::kSplit});
      prog.back().x = int32_t(prog.size());
      if (Status st = emit(body, prog); !st.is_ok()) return st;
    }
    for (size_t s : splits) prog[s].y = int32_t(prog.size());
    return Status::ok();
  }

  std::string_view p_;
  size_t i_ = 0;
  std::vector<SplitRegex::Class>* classes_ = nullptr;
  std::vector<std::pair<size_t, const Node*>> pending_looks_;
};

Result<SplitRegex> SplitRegex::compile(std::string_view pattern) {
  return RegexCompiler(pattern).compile();
}

// ---------------------------------------------------------------------------------------
// Matching

bool SplitRegex::run(const Alternative& a, int32_t pc, const CharView& t, size_t pos, size_t e,
                     size_t* end, State& st) const {
  const size_t base = st.stack.size();
  const Inst* prog = a.prog.data();
  while (true) {
    const Inst& in = prog[pc];
    ++st.steps;
    bool ok = true;
    switch (in.op) {
      case Inst::kRun: {
        uint32_t k = 0;
        while (k < in.max && pos + k < e &&
               class_match(classes_, in.cls, t.cp[pos + k], t.fl[pos + k])) {
          ++k;
        }
        if (k < in.min) {
          ok = false;
          break;
        }
        if (k > in.min) st.stack.push_back({pc + 1, uint32_t(pos + k - 1), uint32_t(pos + in.min)});
        pos += k;
        ++pc;
        break;
      }
      case Inst::kSplit:
        st.stack.push_back({in.y, uint32_t(pos), kNoRun});
        pc = in.x;
        break;
      case Inst::kJmp:
        pc = in.x;
        break;
      case Inst::kEnd:
        ok = pos == e || t.cp[pos] == '\n';
        ++pc;
        break;
      case Inst::kLookPos:
      case Inst::kLookNeg: {
        size_t ignored = 0;
        const bool found = run(a, in.x, t, pos, e, &ignored, st);
        ok = found == (in.op == Inst::kLookPos);
        ++pc;
        break;
      }
      case Inst::kMatch:
        *end = pos;
        st.stack.resize(base);
        return true;
    }
    if (ok) continue;
    if (st.stack.size() == base) return false;
    State::Frame& f = st.stack.back();
    pc = f.pc;
    pos = f.pos;
    if (f.lo == kNoRun || f.pos == f.lo) {
      st.stack.pop_back();
    } else {
      --f.pos;
    }
  }
}

void SplitRegex::start_piece(State& st) const {
  st.fail_below.assign(alts_.size(), 0);
}

size_t SplitRegex::match_at(const CharView& t, size_t i, size_t e, State& st) const {
  for (size_t k = 0; k < alts_.size(); ++k) {
    const Alternative& a = alts_[k];
    if (a.first >= 0 && !class_match(classes_, a.first, t.cp[i], t.fl[i])) continue;
    if (i < st.fail_below[k]) continue;
    size_t end = i;
    // The first alternative that succeeds decides, even with an empty match (which the
    // caller treats as no match), as in Oniguruma.
    if (run(a, 0, t, i, e, &end, st)) return end;
    // An unbounded leading run that failed from i fails from every later start inside the
    // same run: those starts retry a subset of the same continuation positions, and nothing
    // after the run depends on where it began. Without this, patterns such as \s+$ would be
    // quadratic in the length of a whitespace run.
    if (a.leading_run) {
      const Inst& r = a.prog[0];
      size_t j = i;
      while (j < e && class_match(classes_, r.cls, t.cp[j], t.fl[j])) ++j;
      if (j > i) st.fail_below[k] = uint32_t(j + 1);
    }
  }
  return i;
}

}  // namespace ll::tok
