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
  std::string arch = "llama";  // "llama" or "qwen2" (QKV biases, NeoX RoPE)
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
  uint64_t seed = 42;
};

// Presets: tiny, 110m (12 layers, n_embd 768, n_ff 2048, 12 heads, vocab 32000, tied),
// 1b (TinyLlama-1.1B shapes: 22 layers, n_embd 2048, n_ff 5632, 32 heads, 4 KV heads).
Result<SynthSpec> synth_preset(const std::string& name);

// Writes a GGUF with a valid SentencePiece-style tokenizer section. Deterministic for a seed.
Status write_synth(const SynthSpec& spec, const std::string& path,
                   const std::function<void(uint64_t, uint64_t)>& progress = nullptr);

}  // namespace ll::model
