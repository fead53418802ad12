// The graph IR: ops are nodes, named activation tensors are edges, weights are referenced
// by their GGUF tensor names. Every activation is a matrix [n_rows][width] of floats with one
// row per token of the batch (or per selected output row after kSelectRows).
#pragma once

#include <string>
#include <vector>

#include "graph/hparams.h"

namespace ll::graph {

enum class OpType {
  kEmbed,       // in: tokens; w: table            -> [n][n_embd]
  kAddPosEmbd,  // in: x; w: position table        -> x + table[pos]
  kRmsNorm,     // in: x; w: scale                 -> [n][width]
  kLayerNorm,   // in: x; w: scale, bias           -> [n][width]
  kMatmul,      // in: x; w: matrix [, bias]       -> [n][rows]
  kRope,        // in: x [n][n_head*head_dim]      -> rotated copy
  kAttention,   // in: q, k, v; KV cache of `layer` -> [n][n_head*head_dim]
  kAdd,         // in: a, b                        -> a + b
  kSwiGlu,      // in: gate, up                    -> silu(gate) * up
  kGelu,        // in: x                           -> gelu(x)
  kSelectRows,  // in: x                           -> the rows that want logits
};
const char* op_name(OpType op);

enum class RopeStyle { kNormal, kNeox };

struct OpParams {
  float eps = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  int n_rot = 0;
  float freq_base = 10000.0f;
  RopeStyle rope_style = RopeStyle::kNormal;
  float attn_scale = 0;
  bool alibi = false;
};

struct TensorDef {
  std::string name;
  int64_t width = 0;      // floats per row
  int producer = -1;      // node index; -1 for graph inputs
  bool selected = false;  // rows are the selected output rows, not the batch rows
};

struct Node {
  OpType op;
  std::string label;                 // e.g. "blk.3.attn_q"
  std::vector<int> inputs;           // tensor ids
  int output = -1;                   // tensor id
  std::vector<std::string> weights;  // GGUF tensor names
  int layer = -1;                    // transformer block, -1 outside blocks
  OpParams params;
};

struct Graph {
  HParams hp;
  std::vector<TensorDef> tensors;
  std::vector<Node> nodes;  // in the one fixed topological order
  int tokens = -1;          // input tensor id: token ids (width 1, int32 stored in floats' slots)
  int logits = -1;          // output tensor id
  std::vector<int> default_cuts;  // node indices where a segment may start (after residual adds)

  int find_tensor(const std::string& name) const;
  // Nodes that read tensor t, in order.
  std::vector<int> consumers(int t) const;
};

// Builds the forward graph for the model's architecture ("llama", "qwen2", ...); weight names
// are checked against the file so a missing tensor is reported by name.
Result<Graph> build_graph(const gguf::File& file);
// check_weights = false: a partial file (a worker's share); executors check their own weights.
Result<Graph> build_graph(const gguf::File& file, const HParams& hp, bool check_weights = true);

}  // namespace ll::graph
