// bloom: a LayerNorm on the token embeddings, pre-norm blocks with LayerNorm (scale and bias),
// one fused QKV projection with bias, attention with ALiBi position biases instead of rope,
// and a GELU feed-forward; every projection has a bias. The LM head is tied to the embedding
// table (250,880 rows in the released models, a large share of the weights).
#include "model/arch.h"

namespace ll::model {

namespace {

using graph::OpType;

Status read_bloom(const gguf::File&, HParams* hp) {
  if (hp->n_head_kv != hp->n_head)
    return invalid_argument("bloom: head_count_kv must equal head_count");
  return Status::ok();
}

graph::Graph build_bloom(const HParams& hp) {
  graph::GraphBuilder b(hp);
  const graph::OpParams norm = build::norm(hp);
  const int tokens = b.input("tokens", 1);
  int x = b.op(OpType::kEmbed, "token_embd", {tokens}, hp.n_embd, {"token_embd.weight"});
  x = b.op(OpType::kLayerNorm, "token_embd_norm", {x}, hp.n_embd,
           {"token_embd_norm.weight", "token_embd_norm.bias"}, -1, norm);
  b.mark_cut();
  for (int l = 0; l < hp.n_layer; ++l) x = build::layernorm_gelu_block(b, hp, x, l, /*alibi=*/true);
  const int logits = build::lm_head(b, hp, x, OpType::kLayerNorm, /*norm_bias=*/true);
  return b.finish(tokens, logits);
}

}  // namespace

const Arch kArchBloom = {"bloom", read_bloom, build_bloom};

}  // namespace ll::model
