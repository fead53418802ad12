#include "graph/graph.h"

#include "graph/builder.h"

namespace ll::graph {

const char* op_name(OpType op) {
  switch (op) {
    case OpType::kEmbed:
      return "embed";
    case OpType::kAddPosEmbd:
      return "add_pos_embd";
    case OpType::kRmsNorm:
      return "rms_norm";
    case OpType::kLayerNorm:
      return "layer_norm";
    case OpType::kMatmul:
      return "matmul";
    case OpType::kRope:
      return "rope";
    case OpType::kAttention:
      return "attention";
    case OpType::kAdd:
      return "add";
    case OpType::kSwiGlu:
      return "swiglu";
    case OpType::kGelu:
      return "gelu";
    case OpType::kSelectRows:
      return "select_rows";
  }
  return "?";
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

Result<Graph> build_graph(const gguf::File& file) {
  LL_ASSIGN_OR_RETURN(HParams hp, read_hparams(file));
  return build_graph(file, hp);
}

Result<Graph> build_graph(const gguf::File& file, const HParams& hp, bool check_weights) {
  Result<Graph> g = [&]() -> Result<Graph> {
    if (hp.arch == "llama") return build_llama(hp, /*qkv_bias=*/false, RopeStyle::kNormal);
    if (hp.arch == "qwen2") return build_llama(hp, /*qkv_bias=*/true, RopeStyle::kNeox);
    return unsupported("architecture '" + hp.arch + "' is not supported (supported: llama, qwen2)");
  }();
  if (!g.is_ok() || !check_weights) return g;
  for (const Node& n : g->nodes) {
    for (const std::string& w : n.weights) {
      const gguf::TensorInfo* t = file.find_tensor(w);
      if (!t)
        return invalid_argument("model: tensor '" + w + "' needed by " + n.label + " is missing");
      if (!t->dtype) {
        return unsupported("model: tensor '" + w + "' has ggml type id " +
                           std::to_string(t->type_id) +
                           ", which is not supported (supported: " +
                           std::string(supported_type_names()) + ")");
      }
    }
  }
  return g;
}

}  // namespace ll::graph
