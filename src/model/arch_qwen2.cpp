// qwen2: the llama block with biases on the Q, K and V projections and NeoX-style rope
// (rotating the first and second half of each head), usually a tied LM head.
#include "model/arch_llama.h"

namespace ll::model {

namespace {

Status read_qwen2(const gguf::File& f, HParams* hp) {
  return read_rope(f, hp);
}

graph::Graph build_qwen2(const HParams& hp) {
  return build_llama_like(hp, /*qkv_bias=*/true, graph::RopeStyle::kNeox);
}

}  // namespace

const Arch kArchQwen2 = {"qwen2", read_qwen2, build_qwen2};

}  // namespace ll::model
