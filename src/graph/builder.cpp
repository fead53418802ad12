#include "graph/builder.h"

namespace ll::graph {

int GraphBuilder::input(const std::string& name, int64_t width) {
  g_.tensors.push_back(TensorDef{name, width, -1, false});
  return static_cast<int>(g_.tensors.size() - 1);
}

int GraphBuilder::op(OpType type, const std::string& label, std::vector<int> inputs, int64_t width,
                     std::vector<std::string> weights, int layer, OpParams params) {
  bool selected = false;
  for (int in : inputs) selected = selected || g_.tensors[in].selected;
  if (type == OpType::kSelectRows) selected = true;
  const int node = static_cast<int>(g_.nodes.size());
  g_.tensors.push_back(TensorDef{label, width, node, selected});
  const int out = static_cast<int>(g_.tensors.size() - 1);
  g_.nodes.push_back(Node{type, label, std::move(inputs), out, std::move(weights), layer, params});
  return out;
}

Graph GraphBuilder::finish(int tokens, int logits) {
  g_.tokens = tokens;
  g_.logits = logits;
  return std::move(g_);
}

}  // namespace ll::graph
