#include "tokenizer/pretokenize.h"

#include <span>

#include "core/log.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

// The pre-tokenizer of a byte-level BPE vocabulary is the pre_tokenizer of its tokenizer.json:
// a sequence of steps, each splitting every piece of the previous step. Every step here is an
// "isolated" split by a pattern (matches and the gaps between them both become pieces), which
// covers the step types these models use:
//   Split {pattern, Isolated}              the pattern itself
//   ByteLevel {use_regex: true}            kByteLevelRegex (GPT-2's pattern)
//   ByteLevel {use_regex: false}           nothing (only the byte mapping, done by bpe.cpp)
//   Digits {individual_digits: true}       \p{N}
//   Digits {individual_digits: false}      \p{N}+
//   Punctuation {Contiguous}               [\p{P}!-/:-@\[-`{-~]+ (Unicode P or ASCII punctuation)
// A step after a ByteLevel step sees the byte-mapped text (one char per byte, GPT-2's printable
// images), so it is marked on_bytes: falcon's digit steps then also split off the bytes
// B2 B3 B9 BC BD BE, whose images are the numeric chars ² ³ ¹ ¼ ½ ¾, as Hugging Face does.

namespace ll::tok {

namespace {

struct Step {
  const char* pattern;
  bool on_bytes = false;
};

struct Row {
  const char* name;  // tokenizer.ggml.pre
  std::span<const Step> steps;
  bool ignore_merges = false;
};

// GPT-2's ByteLevel pattern.
constexpr char kByteLevelRegex[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// cl100k (Llama-3, DBRX, GLM-4): numbers in groups of up to three digits.
constexpr char kLlama3Regex[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2 and StableLM-2: the same with single digits.
constexpr char kQwen2Regex[] = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
                               R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Mistral's tekken: words split at case changes, single digits, no contractions.
constexpr char kTekkenRegex[] =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*)"
    R"(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// o200k (GPT-4o): as tekken with the contractions glued to the word and 1-3 digits.
constexpr char kGpt4oRegex[] =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+)"
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*)"
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// BLOOM: anything but whitespace and a few sentence marks, with one optional leading space.
// The nested class is Oniguruma's union: ( | ) are excluded too.
constexpr char kBloomRegex[] = R"( ?[^(\s|[.,!?…。，、।۔،])]+)";
constexpr char kPunctuationRun[] = R"([\p{P}!-/:-@\[-`{-~]+)";
constexpr char kDigit[] = R"(\p{N})";
constexpr char kDigitRun[] = R"(\p{N}+)";

constexpr Step kByteLevel[] = {{kByteLevelRegex}};
constexpr Step kLlama3[] = {{kLlama3Regex}};
constexpr Step kQwen2[] = {{kQwen2Regex}};
constexpr Step kTekken[] = {{kTekkenRegex}};
constexpr Step kGpt4o[] = {{kGpt4oRegex}};
constexpr Step kBloom[] = {{kBloomRegex}};
constexpr Step kViking[] = {{kBloomRegex}, {kDigit}};
// Digits(individual_digits) then ByteLevel(use_regex).
constexpr Step kStarcoder[] = {{kDigit}, {kByteLevelRegex}};
// Punctuation(Contiguous), ByteLevel(use_regex), then on the mapped bytes Digits(grouped) and
// Split([0-9][0-9][0-9]).
constexpr Step kFalcon[] = {
    {kPunctuationRun}, {kByteLevelRegex}, {kDigitRun, true}, {"[0-9][0-9][0-9]", true}};
// Its letter class is the cased letters (Lu Ll Lt) of the Unicode version it was built with,
// kept literal rather than derived from our tables; the CJK class runs from U+0800.
constexpr Step kDeepseekLlm[] = {
    {R"([\r\n])"},
    {R"(\s?[\x{41}-\x{5A}\x{61}-\x{7A}\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF})"
     R"(\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}-\x{377}\x{37B}-\x{37D}\x{37F}\x{386})"
     R"(\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F})"
     R"(\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA})"
     R"(\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15})"
     R"(\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B})"
     R"(\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})"
     R"(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})"
     R"(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})"
     R"(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})"
     R"(\x{2145}-\x{2149}\x{214E}\x{2183}-\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
     R"(\x{2CEB}-\x{2CEE}\x{2CF2}-\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})"
     R"(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})"
     R"(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3})"
     R"(\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF})"
     R"(\x{1E900}-\x{1E943}]+)"},
    {R"(\s?[!-/:-~！-／：-～‘-‟　-。]+)"},
    {R"(\s+$)"},
    {R"([一-龥ࠀ-一가-퟿]+)"},
    {kDigitRun},
};
constexpr Step kDeepseekCoder[] = {
    {R"([\r\n])"}, {R"(\s?\p{L}+)"}, {R"(\s?\p{P}+)"}, {R"([一-龥ࠀ-一가-퟿]+)"}, {kDigit},
};

// The table: one row per GGUF name. Row 0 is the default (no tokenizer.ggml.pre).
constexpr Row kRows[] = {
    {"gpt-2", kByteLevel},
    {"default", kByteLevel},
    {"gpt2", kByteLevel},
    {"phi-2", kByteLevel},
    {"mpt", kByteLevel},
    {"olmo", kByteLevel},
    {"jais", kByteLevel},
    {"llama-bpe", kLlama3, /*ignore_merges=*/true},
    {"llama3", kLlama3, true},
    {"llama-v3", kLlama3, true},
    {"dbrx", kLlama3},
    {"smaug-bpe", kLlama3},
    {"chatglm-bpe", kLlama3},
    {"chatglm4", kLlama3},
    {"qwen2", kQwen2},
    {"stablelm2", kQwen2},
    {"starcoder", kStarcoder},
    {"refact", kStarcoder},
    {"command-r", kStarcoder},
    {"smollm", kStarcoder},
    {"codeshell", kStarcoder},
    {"exaone", kStarcoder},
    {"falcon", kFalcon},
    {"bloom", kBloom},
    {"poro-chat", kBloom},
    {"poro", kBloom},
    {"gpt3-finnish", kBloom},
    {"viking", kViking},
    {"tekken", kTekken},
    {"gpt-4o", kGpt4o},
    {"deepseek-llm", kDeepseekLlm},
    {"deepseek-coder", kDeepseekCoder},
};
constexpr size_t kRowCount = sizeof(kRows) / sizeof(kRows[0]);

struct CompiledStep {
  SplitRegex re;
  bool on_bytes;
};
struct CompiledRow {
  std::vector<CompiledStep> steps;
  bool ok = true;
};

// Compiled once. A pattern that fails to compile is a bug in the table (a test compiles every
// row); that row then reports itself unknown instead of taking the process down.
const std::vector<CompiledRow>& compiled_rows() {
  static const std::vector<CompiledRow> rows = [] {
    std::vector<CompiledRow> out(kRowCount);
    for (size_t r = 0; r < kRowCount; ++r) {
      for (const Step& s : kRows[r].steps) {
        auto re = SplitRegex::compile(s.pattern);
        if (!re.is_ok()) {
          LL_LOG_ERROR("pre-tokenizer '%s': %s", kRows[r].name, re.status().to_string().c_str());
          out[r].ok = false;
          break;
        }
        out[r].steps.push_back({std::move(*re), s.on_bytes});
      }
    }
    return out;
  }();
  return rows;
}

void split_isolated(const SplitRegex& re, const CharView& t, const std::vector<Span>& in,
                    std::vector<Span>& out, SplitRegex::State& st) {
  out.clear();
  for (const Span s : in) {
    re.start_piece(st);
    size_t gap = s.begin, i = s.begin;
    while (i < s.end) {
      const size_t m = re.match_at(t, i, s.end, st);
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

}  // namespace

std::optional<PreTokenizer> PreTokenizer::from_name(std::string_view name) {
  for (size_t r = 0; r < kRowCount; ++r) {
    if (name == kRows[r].name) {
      if (!compiled_rows()[r].ok) return std::nullopt;
      return PreTokenizer(uint16_t(r));
    }
  }
  return std::nullopt;
}

std::vector<std::string> PreTokenizer::names() {
  std::vector<std::string> out;
  for (const Row& r : kRows) out.emplace_back(r.name);
  return out;
}

const char* PreTokenizer::name() const {
  return kRows[row_].name;
}

bool PreTokenizer::ignore_merges() const {
  return kRows[row_].ignore_merges;
}

void pre_tokenize(PreTokenizer p, std::string_view text, std::vector<Span>& out,
                  PreTokenizeScratch& s) {
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

  const CompiledRow& row = compiled_rows()[p.row()];
  std::vector<Span>* cur = &s.a;
  std::vector<Span>* nxt = &s.b;
  cur->assign(1, Span{0, uint32_t(s.cps.size())});
  bool on_bytes = false;
  for (const CompiledStep& step : row.steps) {
    if (step.on_bytes && !on_bytes) {
      // From here on one char per byte: spans become byte offsets.
      for (Span& w : *cur) w = {s.offs[w.begin], s.offs[w.end]};
      s.cps.resize(text.size());
      s.flags.resize(text.size());
      s.offs.resize(text.size() + 1);
      for (size_t i = 0; i < text.size(); ++i) {
        s.cps[i] = byte_to_unicode(static_cast<uint8_t>(text[i]));
        s.flags[i] = char_flags(s.cps[i]);
        s.offs[i] = uint32_t(i);
      }
      s.offs[text.size()] = uint32_t(text.size());
      on_bytes = true;
    }
    const CharView t{s.cps.data(), s.flags.data()};
    split_isolated(step.re, t, *cur, *nxt, s.regex);
    std::swap(cur, nxt);
  }
  for (const Span w : *cur) out.push_back({s.offs[w.begin], s.offs[w.end]});
}

}  // namespace ll::tok
