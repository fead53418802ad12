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

namespace {

SynthSpec shape(const std::string& arch, int n_vocab, int n_embd, int n_layer, int n_ff, int n_head,
                int n_head_kv, int n_ctx, bool tied) {
  SynthSpec s;
  s.arch = arch;
  s.n_vocab = n_vocab;
  s.n_embd = n_embd;
  s.n_layer = n_layer;
  s.n_ff = n_ff;
  s.n_head = n_head;
  s.n_head_kv = n_head_kv;
  s.n_ctx = n_ctx;
  s.tied_output = tied;
  return s;
}

}  // namespace

Result<SynthSpec> synth_preset(const std::string& arch, const std::string& name) {
  if (name != "tiny" && name != "110m" && name != "1b")
    return invalid_argument("unknown preset '" + name + "' (tiny, 110m, 1b)");
  const int p = name == "tiny" ? 0 : name == "110m" ? 1 : 2;
  if (arch == "llama") {
    LL_ASSIGN_OR_RETURN(SynthSpec s, synth_preset(name));
    return s;
  }
  if (arch == "qwen2") {
    const SynthSpec s[] = {shape(arch, 512, 64, 2, 192, 4, 2, 512, true),
                           shape(arch, 151936, 512, 12, 2816, 8, 2, 2048, true),
                           shape(arch, 151936, 1536, 28, 8960, 12, 2, 4096, true)};  // 1.5B
    return s[p];
  }
  if (arch == "gpt2") {
    // tiny: an untied head, so random weights do not just echo the last token.
    const SynthSpec s[] = {shape(arch, 512, 64, 2, 256, 4, 4, 512, false),
                           shape(arch, 50257, 768, 12, 3072, 12, 12, 1024, true),    // small
                           shape(arch, 50257, 1280, 36, 5120, 20, 20, 1024, true)};  // large
    return s[p];
  }
  if (arch == "bloom") {
    const SynthSpec s[] = {shape(arch, 512, 64, 2, 256, 4, 4, 512, false),
                           shape(arch, 250880, 768, 12, 3072, 12, 12, 2048, true),
                           shape(arch, 250880, 1536, 24, 6144, 16, 16, 2048, true)};  // 1b1
    return s[p];
  }
  if (arch == "phi3") {
    const SynthSpec s[] = {shape(arch, 512, 64, 2, 192, 4, 4, 512, false),
                           shape(arch, 32064, 768, 12, 2048, 8, 8, 4096, false),
                           shape(arch, 32064, 1536, 24, 6144, 16, 16, 4096, false)};
    return s[p];
  }
  if (arch == "falcon") {
    const SynthSpec s[] = {shape(arch, 512, 64, 2, 256, 4, 1, 512, true),
                           shape(arch, 65024, 768, 12, 3072, 12, 1, 2048, false),
                           shape(arch, 65024, 2048, 24, 8192, 32, 1, 2048, false)};
    return s[p];
  }
  return invalid_argument("synth: unknown arch '" + arch +
                          "' (llama, qwen2, gpt2, bloom, phi3, falcon)");
}

Status write_synth(const SynthSpec& s, const std::string& path,
                   const std::function<void(uint64_t, uint64_t)>& progress) {
  const std::string& a = s.arch;
  const bool layer_norm = a == "gpt2" || a == "bloom" || a == "falcon";
  const bool has_rope = !(a == "gpt2" || a == "bloom");
  if (a != "llama" && a != "qwen2" && !layer_norm && a != "phi3")
    return invalid_argument("synth: unknown arch '" + a +
                            "' (llama, qwen2, gpt2, bloom, phi3, falcon)");
  if (s.n_embd % s.n_head != 0 || s.n_head % s.n_head_kv != 0)
    return invalid_argument("synth: head counts do not divide n_embd");
  // Matrices whose rows are not whole blocks of the type fall back (quant_mix.h).
  QuantScheme scheme{std::string(dtype_name(s.type)), s.type, false};
  if (!s.mix.empty()) {
    LL_ASSIGN_OR_RETURN(scheme, parse_quant_scheme(s.mix));
  }
  gguf::Writer w;
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
  if (has_rope) {
    w.set_u32(a + ".rope.dimension_count", head_dim);
    w.set_f32(a + ".rope.freq_base", 10000.0f);
    if (s.rope_scaling_factor > 0) {
      w.set_string(a + ".rope.scaling.type", "linear");
      w.set_f32(a + ".rope.scaling.factor", s.rope_scaling_factor);
    }
  }
  w.set_f32(
      a + (layer_norm ? ".attention.layer_norm_epsilon" : ".attention.layer_norm_rms_epsilon"),
      1e-5f);
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
    const bool is_output =
        name == "output.weight" || (s.tied_output && name == "token_embd.weight");
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
  // A norm: scale near 1, and for LayerNorm families a bias near 0.
  auto norm = [&](const std::string& name) {
    vec(name + ".weight", s.n_embd, 1.0f, 0.1f);
    if (layer_norm) vec(name + ".bias", s.n_embd, 0.0f, 0.1f);
  };
  // A projection [cols -> rows]; gpt2 and bloom give every projection a bias.
  const bool proj_bias = a == "gpt2" || a == "bloom";
  auto proj = [&](const std::string& name, int64_t cols, int64_t rows, bool bias) {
    matrix(name + ".weight", cols, rows, s.type);
    if (bias) vec(name + ".bias", rows, 0.0f, 0.1f);
  };
  matrix("token_embd.weight", s.n_embd, s.n_vocab, s.type);
  if (s.rope_freqs) vec("rope_freqs.weight", head_dim / 2, 2.0f, 1.0f);  // divisors in [1, 3)
  if (a == "gpt2") matrix("position_embd.weight", s.n_embd, s.n_ctx, s.type);
  if (a == "bloom") norm("token_embd_norm");
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm");
    if (a == "llama" || a == "qwen2") {
      proj(p + "attn_q", s.n_embd, s.n_embd, a == "qwen2");
      proj(p + "attn_k", s.n_embd, n_kv, a == "qwen2");
      proj(p + "attn_v", s.n_embd, n_kv, a == "qwen2");
    } else {
      proj(p + "attn_qkv", s.n_embd, s.n_embd + 2 * n_kv, proj_bias);
    }
    proj(p + "attn_output", s.n_embd, s.n_embd, proj_bias);
    if (a != "falcon") norm(p + "ffn_norm");
    if (a == "llama" || a == "qwen2") {
      proj(p + "ffn_gate", s.n_embd, s.n_ff, false);
      proj(p + "ffn_up", s.n_embd, s.n_ff, false);
    } else {
      proj(p + "ffn_up", s.n_embd, (a == "phi3" ? 2 : 1) * int64_t{s.n_ff}, proj_bias);
    }
    proj(p + "ffn_down", s.n_ff, s.n_embd, proj_bias);
  }
  norm("output_norm");
  if (!s.tied_output) matrix("output.weight", s.n_embd, s.n_vocab, s.type);
  return w.write(path, progress);
}

}  // namespace ll::model
