// The llama block, shared by the families that are llama with small changes (qwen2).
#pragma once

#include "model/arch.h"

namespace ll::model {

graph::Graph build_llama_like(const HParams& hp, bool qkv_bias, graph::RopeStyle rope_style);

}  // namespace ll::model
