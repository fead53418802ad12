#include "graph/graph.h"

#include "graph/op_table.h"

namespace ll::graph {

const char* op_name(OpType op) {
  return op_def(op).name;
}

int Graph::find_tensor(const std::string& name) const {
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<int> Graph::consumers(int t) const {
  std::vector<int> out;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (int in : nodes[i].inputs) {
      if (in == t) {
        out.push_back(static_cast<int>(i));
        break;
      }
    }
  }
  return out;
}

Status check_weights(const Graph& g, const gguf::File& file) {
  for (const Node& n : g.nodes) {
    for (const std::string& w : n.weights) {
      const gguf::TensorInfo* t = file.find_tensor(w);
      if (!t)
        return invalid_argument("model: tensor '" + w + "' needed by " + n.label + " is missing");
      if (!t->dtype) {
        return unsupported(
            "model: tensor '" + w + "' has ggml type id " + std::to_string(t->type_id) +
            ", which is not supported (supported: " + std::string(supported_type_names()) + ")");
      }
    }
  }
  return Status::ok();
}

}  // namespace ll::graph
