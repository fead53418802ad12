// Graph construction helpers shared by the architecture builders; each architecture is one
// builder function in its own file.
#pragma once

#include "graph/graph.h"

namespace ll::graph {

class GraphBuilder {
 public:
  explicit GraphBuilder(const HParams& hp) { g_.hp = hp; }

  int input(const std::string& name, int64_t width);
  // Adds a node and its output tensor; returns the output tensor id.
  int op(OpType type, const std::string& label, std::vector<int> inputs, int64_t width,
         std::vector<std::string> weights = {}, int layer = -1, OpParams params = {});
  // A segment may start at the next node (cuts after residual adds, as in LinguaLinked).
  void mark_cut() { g_.default_cuts.push_back(static_cast<int>(g_.nodes.size())); }
  Graph finish(int tokens, int logits);

 private:
  Graph g_;
};

// llama and qwen2 (qwen2 = llama with QKV biases and NeoX-style RoPE).
Result<Graph> build_llama(const HParams& hp, bool qkv_bias, RopeStyle rope_style);

}  // namespace ll::graph
