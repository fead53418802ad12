#include "model/synth.h"

#include <cmath>
#include <set>
#include <thread>
#include <vector>

#include "core/thread_pool.h"
#include "gguf/gguf_writer.h"
#include "kernels/kernels.h"
#include "model/quant_mix.h"

namespace ll::model {

namespace {

uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t hash_name(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return mix(h);
}

// Row r of a tensor depends only on (seed, name, r): any split across threads gives the same file.
void fill_row(uint64_t key, int64_t r, float* row, int64_t n, float scale) {
  uint64_t s = mix(key + 0x9e3779b97f4a7c15ull * (r + 1));
  for (int64_t i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    // Uniform in [-1, 1) from the top 24 bits.
    row[i] = scale * (static_cast<float>(s >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
}

// Token pieces of a SentencePiece-like vocabulary: specials, 256 byte tokens, then pieces
// built from common letters so that text tokenizes into more than bytes.
void make_vocab(int n_vocab, std::vector<std::string>* tokens, std::vector<float>* scores,
                std::vector<int32_t>* types) {
  tokens->push_back("<unk>");
  types->push_back(2);
  tokens->push_back("<s>");
  types->push_back(3);
  tokens->push_back("</s>");
  types->push_back(3);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tokens->push_back(buf);
    types->push_back(6);
  }
  std::set<std::string> seen(tokens->begin(), tokens->end());
  const std::string letters = "etaoinshrdlucmfwypvbgkjqxz";
  const std::string sp = "\xe2\x96\x81";  // U+2581, SentencePiece's space
  std::vector<std::string> base;
  for (char c : letters) base.push_back(std::string(1, c));
  for (char c : std::string(".,!?'\"-:;0123456789ETAOINSHRDLUCMFWYPVBGKJQXZ"))
    base.push_back(std::string(1, c));
  auto push = [&](const std::string& p) {
    if (static_cast<int>(tokens->size()) >= n_vocab || !seen.insert(p).second) return;
    tokens->push_back(p);
    types->push_back(1);
  };
  push(sp);
  for (const auto& b : base) push(b);
  for (const auto& b : base) push(sp + b);
  for (size_t len = 2; static_cast<int>(tokens->size()) < n_vocab; ++len) {
    // Grow pieces from existing ones: all letter pairs, then triples, ... (deterministic).
    std::vector<std::string> cur(tokens->begin() + 259, tokens->end());
    for (const auto& a : cur) {
      for (char c : letters) {
        push(a + c);
        if (static_cast<int>(tokens->size()) >= n_vocab) break;
      }
      if (static_cast<int>(tokens->size()) >= n_vocab) break;
    }
    if (len > 16) break;
  }
  int i = 0;
  while (static_cast<int>(tokens->size()) < n_vocab) push("<extra_" + std::to_string(i++) + ">");
  scores->assign(tokens->size(), 0.0f);
  for (size_t t = 259; t < tokens->size(); ++t) {
    // Longer pieces score higher so merges prefer them, like a trained unigram model.
    (*scores)[t] =
        -static_cast<float>(t) / tokens->size() + static_cast<float>((*tokens)[t].size());
  }
}

}  // namespace

Result<SynthSpec> synth_preset(const std::string& name) {
  SynthSpec s;
  if (name == "tiny") return s;
  if (name == "110m") {
    s.n_vocab = 32000;
    s.n_embd = 768;
    s.n_layer = 12;
    s.n_ff = 2048;
    s.n_head = 12;
    s.n_head_kv = 12;
    s.n_ctx = 2048;
    s.tied_output = true;
    return s;
  }
  if (name == "1b") {
    s.n_vocab = 32000;
    s.n_embd = 2048;
    s.n_layer = 22;
    s.n_ff = 5632;
    s.n_head = 32;
    s.n_head_kv = 4;
    s.n_ctx = 2048;
    s.tied_output = false;
    return s;
  }
  return invalid_argument("unknown preset '" + name + "' (tiny, 110m, 1b)");
}

Status write_synth(const SynthSpec& s, const std::string& path,
                   const std::function<void(uint64_t, uint64_t)>& progress) {
  if (s.arch != "llama" && s.arch != "qwen2")
    return invalid_argument("synth: unknown arch '" + s.arch + "' (llama, qwen2)");
  if (s.n_embd % s.n_head != 0 || s.n_head % s.n_head_kv != 0)
    return invalid_argument("synth: head counts do not divide n_embd");
  // Matrices whose rows are not whole blocks of the type fall back (quant_mix.h).
  QuantScheme scheme{std::string(dtype_name(s.type)), s.type, false};
  if (!s.mix.empty()) {
    LL_ASSIGN_OR_RETURN(scheme, parse_quant_scheme(s.mix));
  }
  gguf::Writer w;
  const std::string a = s.arch;
  const int head_dim = s.n_embd / s.n_head;
  w.set_string("general.architecture", a);
  w.set_string("general.name", "lingualinked-synth-" + a);
  w.set_u32("general.file_type", static_cast<uint32_t>(s.type));
  w.set_u32(a + ".context_length", s.n_ctx);
  w.set_u32(a + ".embedding_length", s.n_embd);
  w.set_u32(a + ".block_count", s.n_layer);
  w.set_u32(a + ".feed_forward_length", s.n_ff);
  w.set_u32(a + ".attention.head_count", s.n_head);
  w.set_u32(a + ".attention.head_count_kv", s.n_head_kv);
  w.set_u32(a + ".rope.dimension_count", head_dim);
  w.set_f32(a + ".rope.freq_base", 10000.0f);
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  make_vocab(s.n_vocab, &tokens, &scores, &types);
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_eos_token", false);

  const uint64_t seed = s.seed;
  auto matrix = [&](const std::string& name, int64_t cols, int64_t rows, DType) {
    const bool is_output = name == "output.weight" || (s.tied_output && name == "token_embd.weight");
    const DType type =
        choose_tensor_type(scheme, is_output ? "output.weight" : name, cols, s.n_layer).type;
    w.add_tensor(name, {cols, rows}, type, [=](uint8_t* out, size_t) {
      const uint64_t key = hash_name(name, seed);
      const float scale = std::sqrt(3.0f / static_cast<float>(cols));
      const size_t rb = row_bytes(type, cols);
      const int n_threads = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
      ThreadPool pool(n_threads);
      pool.parallel_for(n_threads, [&](int64_t t, int) {
        std::vector<float> row(cols);
        for (int64_t r = t; r < rows; r += n_threads) {
          fill_row(key, r, row.data(), cols, scale);
          kernels::quantize_row(type, row.data(), out + rb * r, cols);
        }
      });
    });
  };
  auto vec = [&](const std::string& name, int64_t n, float center, float spread) {
    w.add_tensor(name, {n}, DType::kF32, [=](uint8_t* out, size_t) {
      float* f = reinterpret_cast<float*>(out);
      fill_row(hash_name(name, seed), 0, f, n, spread);
      for (int64_t i = 0; i < n; ++i) f[i] += center;
    });
  };
  const int n_kv = s.n_head_kv * head_dim;
  matrix("token_embd.weight", s.n_embd, s.n_vocab, s.type);
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    vec(p + "attn_norm.weight", s.n_embd, 1.0f, 0.1f);
    matrix(p + "attn_q.weight", s.n_embd, s.n_embd, s.type);
    matrix(p + "attn_k.weight", s.n_embd, n_kv, s.type);
    matrix(p + "attn_v.weight", s.n_embd, n_kv, s.type);
    if (a == "qwen2") {
      vec(p + "attn_q.bias", s.n_embd, 0.0f, 0.1f);
      vec(p + "attn_k.bias", n_kv, 0.0f, 0.1f);
      vec(p + "attn_v.bias", n_kv, 0.0f, 0.1f);
    }
    matrix(p + "attn_output.weight", s.n_embd, s.n_embd, s.type);
    vec(p + "ffn_norm.weight", s.n_embd, 1.0f, 0.1f);
    matrix(p + "ffn_gate.weight", s.n_embd, s.n_ff, s.type);
    matrix(p + "ffn_up.weight", s.n_embd, s.n_ff, s.type);
    matrix(p + "ffn_down.weight", s.n_ff, s.n_embd, s.type);
  }
  vec("output_norm.weight", s.n_embd, 1.0f, 0.1f);
  if (!s.tied_output) matrix("output.weight", s.n_embd, s.n_vocab, s.type);
  return w.write(path, progress);
}

}  // namespace ll::model
