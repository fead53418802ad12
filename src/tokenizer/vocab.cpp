// Vocab::from_gguf: reads and validates tokenizer.ggml.* metadata.
#include <string>

#include "core/log.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace ll::tok {

namespace {

std::string key_error(std::string_view key, const std::string& what) {
  return "tokenizer metadata '" + std::string(key) + "': " + what;
}

// Optional token id: absent, -1 and 0xFFFFFFFF (what converters write for "none") mean
// none. An id outside the vocabulary is dropped with a warning rather than rejecting the
// whole model, since only that one feature (e.g. padding) is affected.
Status read_id(const gguf::File& f, std::string_view key, int32_t n_vocab, int32_t& id) {
  const gguf::Value* v = f.find(key);
  if (!v) return Status::ok();
  if (!v->is_int()) {
    return invalid_argument(key_error(
        key, std::string("expected an integer, found ") + gguf::value_type_name(v->type)));
  }
  auto r = f.get_int(key);
  if (!r.is_ok()) return r.status();
  const int64_t x = *r;
  if (x == -1 || x == 0xFFFFFFFFll) {
    id = -1;
  } else if (x < 0 || x >= n_vocab) {
    LL_LOG_WARN("%s", key_error(key, "id " + std::to_string(x) + " is outside the vocabulary of " +
                                         std::to_string(n_vocab) + " tokens; ignored")
                          .c_str());
    id = -1;
  } else {
    id = static_cast<int32_t>(x);
  }
  return Status::ok();
}

Status read_bool(const gguf::File& f, std::string_view key, bool& out) {
  if (!f.find(key)) return Status::ok();
  auto r = f.get_bool(key);
  if (!r.is_ok()) return invalid_argument(key_error(key, r.status().message()));
  out = *r;
  return Status::ok();
}

}  // namespace

Result<Vocab> Vocab::from_gguf(const gguf::File& f) {
  Vocab v;
  constexpr std::string_view kModel = "tokenizer.ggml.model";
  const gguf::Value* model = f.find(kModel);
  if (!model) return not_found(key_error(kModel, "missing (the file has no tokenizer)"));
  if (model->type != gguf::ValueType::kString) {
    return invalid_argument(key_error(kModel, "expected a string"));
  }
  if (model->str == "llama") {
    v.kind = VocabKind::kSpm;
  } else if (model->str == "gpt2") {
    v.kind = VocabKind::kBpe;
  } else {
    return unsupported(
        key_error(kModel, "'" + model->str + "' is not supported (supported: 'llama', 'gpt2')"));
  }

  constexpr std::string_view kTokens = "tokenizer.ggml.tokens";
  const std::vector<std::string>* tokens = f.get_string_array(kTokens);
  if (!tokens) {
    return f.find(kTokens) ? invalid_argument(key_error(kTokens, "expected an array of strings"))
                           : not_found(key_error(kTokens, "missing"));
  }
  if (tokens->empty()) return corrupt(key_error(kTokens, "empty vocabulary"));
  if (tokens->size() > 0x7FFFFFFFu) return corrupt(key_error(kTokens, "too many tokens"));
  v.tokens = *tokens;
  const size_t n = v.tokens.size();
  const int32_t n_vocab = static_cast<int32_t>(n);

  constexpr std::string_view kScores = "tokenizer.ggml.scores";
  if (f.find(kScores)) {
    const std::vector<double>* scores = f.get_float_array(kScores);
    if (!scores) return invalid_argument(key_error(kScores, "expected an array of floats"));
    if (scores->size() != n) {
      return corrupt(key_error(kScores, "has " + std::to_string(scores->size()) + " entries for " +
                                            std::to_string(n) + " tokens"));
    }
    v.scores.assign(scores->begin(), scores->end());
  }

  constexpr std::string_view kTypes = "tokenizer.ggml.token_type";
  v.types.assign(n, TokenType::kNormal);
  if (f.find(kTypes)) {
    const std::vector<int64_t>* types = f.get_int_array(kTypes);
    if (!types) return invalid_argument(key_error(kTypes, "expected an array of integers"));
    if (types->size() != n) {
      return corrupt(key_error(kTypes, "has " + std::to_string(types->size()) + " entries for " +
                                           std::to_string(n) + " tokens"));
    }
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = (*types)[i];
      if (t < 0 || t > 6) {
        return corrupt(key_error(
            kTypes, "entry " + std::to_string(i) + " has unknown type " + std::to_string(t)));
      }
      v.types[i] = static_cast<TokenType>(t);
    }
  }

  constexpr std::string_view kMerges = "tokenizer.ggml.merges";
  if (v.kind == VocabKind::kBpe) {
    const std::vector<std::string>* merges = f.get_string_array(kMerges);
    if (!merges) {
      return f.find(kMerges) ? invalid_argument(key_error(kMerges, "expected an array of strings"))
                             : not_found(key_error(kMerges, "missing (required for 'gpt2')"));
    }
    v.merges = *merges;
  }

  constexpr std::string_view kPre = "tokenizer.ggml.pre";
  if (f.find(kPre)) {
    auto pre = f.get_string(kPre);
    if (!pre.is_ok()) return invalid_argument(key_error(kPre, pre.status().message()));
    v.pre_name = *pre;
  }
  if (v.kind == VocabKind::kBpe) {
    auto p = PreTokenizer::from_name(v.pre_name.empty() ? "gpt-2" : v.pre_name);
    if (p) {
      v.pre = *p;
    } else {
      // Documented fallback: most byte-level BPE models split close to GPT-2, and refusing
      // the model would be worse than slightly different token boundaries.
      LL_LOG_WARN("%s", key_error(kPre, "unknown pre-tokenizer '" + v.pre_name +
                                            "'; falling back to gpt-2 splitting")
                            .c_str());
      v.pre = PreTokenizer::gpt2();
    }
  }

  if (v.kind == VocabKind::kSpm) {
    // SentencePiece conventions when a converter did not write the ids.
    auto dflt = [&](int32_t id) { return id < n_vocab ? id : -1; };
    v.unk_id = dflt(0);
    v.bos_id = dflt(1);
    v.eos_id = dflt(2);
    v.add_bos = true;
  }
  LL_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.bos_token_id", n_vocab, v.bos_id));
  LL_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.eos_token_id", n_vocab, v.eos_id));
  LL_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.eot_token_id", n_vocab, v.eot_id));
  LL_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.eom_token_id", n_vocab, v.eom_id));
  LL_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.padding_token_id", n_vocab, v.pad_id));
  LL_RETURN_IF_ERROR(read_id(f, "tokenizer.ggml.unknown_token_id", n_vocab, v.unk_id));
  LL_RETURN_IF_ERROR(read_bool(f, "tokenizer.ggml.add_bos_token", v.add_bos));
  LL_RETURN_IF_ERROR(read_bool(f, "tokenizer.ggml.add_eos_token", v.add_eos));
  LL_RETURN_IF_ERROR(read_bool(f, "tokenizer.ggml.add_space_prefix", v.add_space_prefix));
  return v;
}

}  // namespace ll::tok
