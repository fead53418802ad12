#include "common.h"

#include <cstdio>
#include <sstream>

namespace ll::tools {

void SamplingFlags::add(CLI::App& sub) {
  sub.add_option("--temp", temp, "Sampling temperature (0 = greedy)")->capture_default_str();
  sub.add_option("--top-k", top_k, "Top-k (0 = off)")->capture_default_str();
  sub.add_option("--top-p", top_p, "Top-p nucleus (1 = off)")->capture_default_str();
  sub.add_option("--min-p", min_p, "Min-p (0 = off)")->capture_default_str();
  sub.add_option("--repeat-penalty", repeat_penalty, "Repetition penalty (1 = off)")
      ->capture_default_str();
  sub.add_option("--seed", seed, "Sampling seed")->capture_default_str();
}

model::SamplerParams SamplingFlags::params() const {
  model::SamplerParams p;
  p.temp = temp;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  p.repeat_penalty = repeat_penalty;
  p.seed = seed;
  return p;
}

int fail(const Status& st) {
  std::fprintf(stderr, "error: %s\n", st.message().c_str());
  return 1;
}

Result<std::vector<int32_t>> parse_ids(const std::string& s) {
  std::vector<int32_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    if (a == std::string::npos) return invalid_argument("empty element in id list '" + s + "'");
    item = item.substr(a, b - a + 1);
    try {
      size_t used = 0;
      long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument("");
      out.push_back(static_cast<int32_t>(v));
    } catch (...) {
      return invalid_argument("'" + item + "' is not a token id");
    }
  }
  return out;
}

Result<std::vector<int32_t>> prompt_tokens(const tok::Tokenizer* tok, const std::string& text,
                                           const std::string& ids, bool no_bos) {
  if (!ids.empty()) return parse_ids(ids);
  if (!tok) return invalid_argument("the model has no tokenizer: pass --prompt-ids");
  std::vector<int32_t> out = tok->encode(text, /*add_special=*/!no_bos, /*parse_special=*/false);
  if (out.empty() && tok->bos_id() >= 0) out.push_back(tok->bos_id());
  return out;
}

std::string json_escape_utf8(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o;
}

}  // namespace ll::tools
