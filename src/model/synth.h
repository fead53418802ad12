// Synthetic random-weight models of realistic shape, for speed work and tests: the real loader,
// graph and kernels run on them exactly as on a downloaded model.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "core/types.h"

namespace ll::model {

struct SynthSpec {
  std::string arch = "llama";  // a family of model/arch.h: llama, qwen2, gpt2, bloom, phi3, falcon
  int n_vocab = 512;
  int n_embd = 64;
  int n_layer = 2;
  int n_ff = 192;
  int n_head = 4;
  int n_head_kv = 2;
  int n_ctx = 512;
  bool tied_output = true;
  DType type = DType::kF32;  // 2-D weight matrices; norms and biases stay F32
  // If set, a mix (Q4_K_M, ...): each matrix's type is choose_tensor_type's (quant_mix.h).
  std::string mix;
  float rope_scaling_factor = 0;  // > 0: rope.scaling.type "linear" with this factor
  bool rope_freqs = false;        // a rope_freqs.weight of per-dimension divisors (llama 3.1)
  uint64_t seed = 42;
};

// Presets: tiny, 110m (12 layers, n_embd 768, n_ff 2048, 12 heads, vocab 32000, tied),
// 1b (TinyLlama-1.1B shapes: 22 layers, n_embd 2048, n_ff 5632, 32 heads, 4 KV heads).
Result<SynthSpec> synth_preset(const std::string& name);
// The preset in the shapes typical of a family (its vocabulary, head layout and MLP ratio);
// 1b: Qwen2-1.5B, GPT-2 large, BLOOM-1b1, a 1B phi3 (head_dim 96), a 1B falcon (multi-query).
// synth.cpp lists every shape.
Result<SynthSpec> synth_preset(const std::string& arch, const std::string& name);

// Writes a GGUF with a valid SentencePiece-style tokenizer section. Deterministic for a seed.
Status write_synth(const SynthSpec& spec, const std::string& path,
                   const std::function<void(uint64_t, uint64_t)>& progress = nullptr);

}  // namespace ll::model
