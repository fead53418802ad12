// falcon (7B style): one LayerNorm feeds attention and the MLP in parallel, and both are added
// to the residual stream at once; one fused QKV projection; multi-query attention (one K/V
// head) with NeoX-style rope; a GELU MLP. Falcon-40B's second norm (attn_norm_2) is refused
// with a clear error.
#include "model/arch.h"

namespace ll::model {

namespace {

using graph::OpType;

Status read_falcon(const gguf::File& f, HParams* hp) {
  for (int l = 0; l < hp->n_layer; ++l) {
    if (f.find_tensor("blk." + std::to_string(l) + ".attn_norm_2.weight"))
      return unsupported("falcon: two-norm blocks (attn_norm_2, Falcon-40B) are not supported yet");
  }
  return read_rope(f, hp);
}

graph::Graph build_falcon(const HParams& hp) {
  graph::GraphBuilder b(hp);
  const graph::OpParams norm = build::norm(hp);
  using build::w;
  const int tokens = b.input("tokens", 1);
  int x = b.op(OpType::kEmbed, "token_embd", {tokens}, hp.n_embd, {"token_embd.weight"});
  b.mark_cut();
  for (int l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    int h =
        b.op(OpType::kLayerNorm, p + "attn_norm", {x}, hp.n_embd, w(l, "attn_norm", true), l, norm);
    const int o = build::fused_qkv_attention(b, hp, h, l, graph::RopeStyle::kNeox);
    int up = b.op(OpType::kMatmul, p + "ffn_up", {h}, hp.n_ff, w(l, "ffn_up"), l);
    int act = b.op(OpType::kGelu, p + "ffn_gelu", {up}, hp.n_ff, {}, l);
    int down = b.op(OpType::kMatmul, p + "ffn_down", {act}, hp.n_embd, w(l, "ffn_down"), l);
    int both = b.op(OpType::kAdd, p + "attn_ffn", {down, o}, hp.n_embd, {}, l);
    x = b.op(OpType::kAdd, p + "residual", {both, x}, hp.n_embd, {}, l);
    b.mark_cut();
  }
  const int logits = build::lm_head(b, hp, x, OpType::kLayerNorm, /*norm_bias=*/true);
  return b.finish(tokens, logits);
}

}  // namespace

const Arch kArchFalcon = {"falcon", read_falcon, build_falcon};

}  // namespace ll::model
