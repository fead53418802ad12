// gpt2: learned position embeddings added to the token embeddings, pre-norm blocks with
// LayerNorm (scale and bias), one fused QKV projection with bias, multi-head attention without
// rope, and a GELU feed-forward; every projection has a bias.
#include "model/arch.h"

namespace ll::model {

namespace {

using graph::OpType;

Status read_gpt2(const gguf::File& f, HParams* hp) {
  if (hp->n_head_kv != hp->n_head)
    return invalid_argument("gpt2: head_count_kv must equal head_count");
  const gguf::TensorInfo* pos = f.find_tensor("position_embd.weight");
  hp->n_pos = pos && pos->ne.size() == 2 ? static_cast<int>(pos->ne[1]) : hp->n_ctx_train;
  return Status::ok();
}

graph::Graph build_gpt2(const HParams& hp) {
  graph::GraphBuilder b(hp);
  const int tokens = b.input("tokens", 1);
  int x = b.op(OpType::kEmbed, "token_embd", {tokens}, hp.n_embd, {"token_embd.weight"});
  x = b.op(OpType::kAddPosEmbd, "position_embd", {x}, hp.n_embd, {"position_embd.weight"});
  b.mark_cut();
  for (int l = 0; l < hp.n_layer; ++l)
    x = build::layernorm_gelu_block(b, hp, x, l, /*alibi=*/false);
  const int logits = build::lm_head(b, hp, x, OpType::kLayerNorm, /*norm_bias=*/true);
  return b.finish(tokens, logits);
}

}  // namespace

const Arch kArchGpt2 = {"gpt2", read_gpt2, build_gpt2};

}  // namespace ll::model
