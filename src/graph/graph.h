// The graph IR: ops are nodes, named activation tensors are edges, weights are referenced
// by their GGUF tensor names. Every activation is a matrix [n_rows][width] of floats with one
// row per token of the batch (or per selected output row after kSelectRows).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "gguf/gguf_file.h"

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
  kSlice,       // in: x                           -> columns [offset, offset + width) of x
  kCount,       // not an op: the size of the op table (graph/op_table.h)
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
  float freq_scale = 1.0f;  // linear rope scaling: positions are multiplied by this
  RopeStyle rope_style = RopeStyle::kNormal;
  float attn_scale = 0;
  bool alibi = false;  // attention adds per-head ALiBi biases (slopes from n_head)
  int64_t offset = 0;  // kSlice: first column taken from the input
};

// The shape facts of a model that segments, costs, the KV cache and the runtime need. The
// architecture's full hyperparameters live in model/hparams.h.
struct ModelDims {
  std::string arch;  // general.architecture
  int n_vocab = 0;
  int n_ctx_train = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_ff = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  bool tied_output = false;  // the LM head reads token_embd.weight

  int n_embd_kv() const { return n_head_kv * head_dim; }
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
  ModelDims hp;
  std::vector<TensorDef> tensors;
  std::vector<Node> nodes;  // in the one fixed topological order
  int tokens = -1;          // input tensor id: token ids (width 1, int32 stored in floats' slots)
  int logits = -1;          // output tensor id
  std::vector<int> default_cuts;  // node indices where a segment may start (after residual adds)

  int find_tensor(const std::string& name) const;
  // Nodes that read tensor t, in order.
  std::vector<int> consumers(int t) const;
};

// Architectures build graphs in model/arch_*.cpp (model::build_graph). Every weight a node
// names must be in the file with a supported type; errors name the tensor.
Status check_weights(const Graph& g, const gguf::File& file);

}  // namespace ll::graph
