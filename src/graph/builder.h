// Graph construction helpers shared by the architecture builders (model/arch_*.cpp).
#pragma once

#include "graph/graph.h"

namespace ll::graph {

class GraphBuilder {
 public:
  explicit GraphBuilder(const ModelDims& dims) { g_.hp = dims; }

  int input(const std::string& name, int64_t width);
  // Adds a node and its output tensor; returns the output tensor id.
  int op(OpType type, const std::string& label, std::vector<int> inputs, int64_t width,
         std::vector<std::string> weights = {}, int layer = -1, OpParams params = {});
  // A segment may start at the next node (cuts after residual adds, as in LinguaLinked).
  void mark_cut() { g_.default_cuts.push_back(static_cast<int>(g_.nodes.size())); }
  Graph finish(int tokens, int logits);
  int64_t width(int tensor) const { return g_.tensors[tensor].width; }

 private:
  Graph g_;
};

}  // namespace ll::graph
