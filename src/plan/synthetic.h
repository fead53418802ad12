// A llama-shaped model profile built from hyperparameters, for benchmarks, tests and planning
// before a GGUF is at hand. Segment 0 holds the embedding, the last one the LM head.
#pragma once

#include <cstdint>
#include <string>

#include "core/types.h"
#include "plan/profile.h"

namespace ll::plan {

struct SyntheticModelSpec {
  std::string name = "synthetic";
  int n_layer = 32;
  int n_embd = 4096;
  int n_ff = 11008;
  int n_head = 32;
  int n_head_kv = 32;
  int n_vocab = 32000;
  DType weight_type = DType::kQ8_0;  // every matrix, embedding and LM head included
  int segments_per_layer = 2;        // 2: "Li.attn" | "Li.ffn"; 1: "Li"
  int64_t attention_ctx = 1024;      // context the per-token attention FLOPs assume
  double activation_bytes = 4;       // per hidden-state element sent between segments
  // > 0 adds an edge of this many bytes from segment 0 to every segment >= 2 (a BLOOM-style
  // mask or position tensor), exercising residual routing.
  double residual_edge_bytes = 0;
};

ModelProfile make_synthetic_model(const SyntheticModelSpec& spec);

}  // namespace ll::plan
