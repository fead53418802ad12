// The architecture registry: one model/arch_<name>.cpp per family, named as GGUF names it
// (general.architecture). Each reads its own hyperparameters and builds its forward graph
// from the ops of graph/op_table.h.
#pragma once

#include <string>
#include <vector>

#include "graph/builder.h"
#include "model/hparams.h"

namespace ll::model {

struct Arch {
  const char* name;  // general.architecture
  // Adds to the common hyperparameters what this family reads and checks.
  Status (*read)(const gguf::File& f, HParams* hp);
  graph::Graph (*build)(const HParams& hp);
};

// Every supported family, in a fixed order.
const std::vector<const Arch*>& archs();
const Arch* find_arch(const std::string& name);
// "llama, qwen2, ..." for error messages and help texts.
std::string arch_names();

Result<HParams> read_hparams(const gguf::File& file);
// Weight names are checked against the file so a missing tensor is reported by name;
// check_weights = false: a partial file (a worker's share), whose executors check their own.
Result<graph::Graph> build_graph(const gguf::File& file, bool check_weights = true);

// The families' registry entries (model/arch_<name>.cpp).
extern const Arch kArchLlama, kArchQwen2, kArchGpt2, kArchBloom, kArchPhi3, kArchFalcon;

// Pieces the builders share (model/arch.cpp).
namespace build {

// Parameters of the ops a block uses, from the hyperparameters.
graph::OpParams norm(const HParams& hp);
graph::OpParams rope(const HParams& hp, int n_head, graph::RopeStyle style);
graph::OpParams attention(const HParams& hp, bool alibi = false);
graph::OpParams slice(int64_t offset);

// Weight names of block l: "blk.<l>.<name>.weight" [+ ".bias"].
std::vector<std::string> w(int l, const std::string& name, bool bias = false);

struct Qkv {
  int q, k, v;
};
// One fused projection [n_embd -> n_q + 2 n_kv] cut into Q, K and V (GGUF stores the fused
// rows in that order).
Qkv fused_qkv(graph::GraphBuilder& b, const HParams& hp, int h, int l, bool bias);
// Q and K rotated by rope (applied after projection, before attention).
Qkv rope_qk(graph::GraphBuilder& b, const HParams& hp, Qkv qkv, int l, graph::RopeStyle style);
// Attention over Q, K, V and the output projection; returns the projection.
int attention_out(graph::GraphBuilder& b, const HParams& hp, Qkv qkv, int l, bool out_bias,
                  bool alibi = false);
// The attention half of falcon's and phi3's blocks: fused QKV without bias, rope on Q and K,
// attention and the output projection without bias; returns the projection.
int fused_qkv_attention(graph::GraphBuilder& b, const HParams& hp, int h, int l,
                        graph::RopeStyle style);
// Block l of gpt2 and bloom: pre-norm with LayerNorm (scale and bias), fused QKV, attention
// (ALiBi biases when `alibi`), a GELU feed-forward, every projection with a bias; a cut after
// each residual add. Returns the residual stream after the block.
int layernorm_gelu_block(graph::GraphBuilder& b, const HParams& hp, int x, int l, bool alibi);
// The LM head: select the rows that want logits, the final norm, the output matrix.
int lm_head(graph::GraphBuilder& b, const HParams& hp, int x, graph::OpType norm_op,
            bool norm_bias);

}  // namespace build

}  // namespace ll::model
