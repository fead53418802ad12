// lingualinked tokenize / detokenize: the model's tokenizer from the command line.
//   lingualinked tokenize -m FILE [--no-bos] [--special] [TEXT]   -> [1, 15043, 3186]
//   lingualinked detokenize -m FILE [--special] IDS...              -> Hello world
// Self-contained (only gguf + tokenizer), so it works with vocab-only GGUF files.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace ll::tools {
namespace {

int report(const Status& st) {
  std::fprintf(stderr, "error: %s\n", st.to_string().c_str());
  return 1;
}

Result<std::unique_ptr<tok::Tokenizer>> load(const std::string& path) {
  LL_ASSIGN_OR_RETURN(auto file, gguf::File::open(path));
  return tok::Tokenizer::from_gguf(*file);
}

// Accepts "1 2 3", "1,2,3" and the "[1, 2, 3]" that tokenize prints, across arguments.
Result<std::vector<int32_t>> parse_id_args(const std::vector<std::string>& args) {
  std::vector<int32_t> ids;
  for (const std::string& a : args) {
    std::string cur;
    auto finish = [&]() -> Status {
      if (cur.empty()) return Status::ok();
      size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(cur, &used);
      } catch (...) {
        used = 0;
      }
      if (used != cur.size() || v < INT32_MIN || v > INT32_MAX) {
        return invalid_argument("'" + cur + "' is not a token id");
      }
      ids.push_back(static_cast<int32_t>(v));
      cur.clear();
      return Status::ok();
    };
    for (char c : a) {
      if (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '[' || c == ']') {
        LL_RETURN_IF_ERROR(finish());
      } else {
        cur.push_back(c);
      }
    }
    LL_RETURN_IF_ERROR(finish());
  }
  return ids;
}

struct TokenizeOpts {
  std::string model, text;
  bool no_bos = false, special = false;
};

int run_tokenize(const TokenizeOpts& o, bool text_given) {
  auto t = load(o.model);
  if (!t.is_ok()) return report(t.status());
  std::string text = o.text;
  if (!text_given) {  // no TEXT argument: tokenize stdin
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const std::vector<int32_t> ids = (*t)->encode(text, !o.no_bos, o.special);
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(ids[i]);
  }
  out += "]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

struct DetokenizeOpts {
  std::string model;
  std::vector<std::string> ids;
  bool special = false;
};

int run_detokenize(const DetokenizeOpts& o) {
  auto t = load(o.model);
  if (!t.is_ok()) return report(t.status());
  auto ids = parse_id_args(o.ids);
  if (!ids.is_ok()) return report(ids.status());
  // The library skips invalid ids; on the command line a typo deserves an error instead.
  for (int32_t id : *ids) {
    if (!(*t)->is_valid(id)) {
      return report(invalid_argument("token id " + std::to_string(id) +
                                     " is outside the vocabulary (n_vocab " +
                                     std::to_string((*t)->n_vocab()) + ")"));
    }
  }
  const std::string text = (*t)->decode(*ids, o.special);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

const bool registered_tokenize = register_command(
    "tokenize", "Print the token ids of a text as a JSON array", [](CLI::App& sub) {
      auto o = std::make_shared<TokenizeOpts>();
      sub.add_option("-m,--model", o->model, "GGUF file with a tokenizer (a vocab-only file works)")
          ->required();
      sub.add_flag("--no-bos", o->no_bos,
                   "Do not add BOS/EOS even if the vocabulary asks for them");
      sub.add_flag("--special", o->special,
                   "Match control tokens written in the text (e.g. <s>) as their ids");
      CLI::Option* text = sub.add_option("text", o->text, "Text to tokenize (default: stdin)");
      return [o, text]() { return run_tokenize(*o, text->count() > 0); };
    });

const bool registered_detokenize =
    register_command("detokenize", "Print the text of token ids", [](CLI::App& sub) {
      auto o = std::make_shared<DetokenizeOpts>();
      sub.add_option("-m,--model", o->model, "GGUF file with a tokenizer (a vocab-only file works)")
          ->required();
      sub.add_flag("--special", o->special, "Render control tokens such as <s> as their text");
      sub.add_option("ids", o->ids, "Token ids: '1 2 3', '1,2,3' or '[1, 2, 3]'")->required();
      return [o]() { return run_detokenize(*o); };
    });

}  // namespace
}  // namespace ll::tools
