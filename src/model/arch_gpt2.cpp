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
  const graph::OpParams norm = build::norm(hp);
  using build::w;
  const int tokens = b.input("tokens", 1);
  int x = b.op(OpType::kEmbed, "token_embd", {tokens}, hp.n_embd, {"token_embd.weight"});
  x = b.op(OpType::kAddPosEmbd, "position_embd", {x}, hp.n_embd, {"position_embd.weight"});
  b.mark_cut();
  for (int l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    int h =
        b.op(OpType::kLayerNorm, p + "attn_norm", {x}, hp.n_embd, w(l, "attn_norm", true), l, norm);
    const build::Qkv qkv = build::fused_qkv(b, hp, h, l, /*bias=*/true);
    const int o = build::attention_out(b, hp, qkv, l, /*out_bias=*/true);
    x = b.op(OpType::kAdd, p + "attn_residual", {x, o}, hp.n_embd, {}, l);
    b.mark_cut();
    h = b.op(OpType::kLayerNorm, p + "ffn_norm", {x}, hp.n_embd, w(l, "ffn_norm", true), l, norm);
    int up = b.op(OpType::kMatmul, p + "ffn_up", {h}, hp.n_ff, w(l, "ffn_up", true), l);
    int act = b.op(OpType::kGelu, p + "ffn_gelu", {up}, hp.n_ff, {}, l);
    int down = b.op(OpType::kMatmul, p + "ffn_down", {act}, hp.n_embd, w(l, "ffn_down", true), l);
    x = b.op(OpType::kAdd, p + "ffn_residual", {x, down}, hp.n_embd, {}, l);
    b.mark_cut();
  }
  const int logits = build::lm_head(b, hp, x, OpType::kLayerNorm, /*norm_bias=*/true);
  return b.finish(tokens, logits);
}

}  // namespace

const Arch kArchGpt2 = {"gpt2", read_gpt2, build_gpt2};

}  // namespace ll::model
