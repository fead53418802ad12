// phi3: the llama block with one fused QKV projection, NeoX-style rope and one fused gate/up
// projection [n_embd -> 2 n_ff] whose first half is the gate. LongRoPE files (the 128k
// variants, rope_factors_long/short) are refused with a clear error.
#include "model/arch.h"

namespace ll::model {

namespace {

using graph::OpType;

Status read_phi3(const gguf::File& f, HParams* hp) {
  if (f.find_tensor("rope_factors_long.weight") || f.find_tensor("rope_factors_short.weight"))
    return unsupported(
        "phi3: LongRoPE (rope_factors_long/short, the 128k variants) is not "
        "supported yet");
  return read_rope(f, hp);
}

graph::Graph build_phi3(const HParams& hp) {
  graph::GraphBuilder b(hp);
  const graph::OpParams norm = build::norm(hp);
  using build::w;
  const int tokens = b.input("tokens", 1);
  int x = b.op(OpType::kEmbed, "token_embd", {tokens}, hp.n_embd, {"token_embd.weight"});
  b.mark_cut();
  for (int l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    int h = b.op(OpType::kRmsNorm, p + "attn_norm", {x}, hp.n_embd, w(l, "attn_norm"), l, norm);
    const int o = build::fused_qkv_attention(b, hp, h, l, graph::RopeStyle::kNeox);
    x = b.op(OpType::kAdd, p + "attn_residual", {x, o}, hp.n_embd, {}, l);
    b.mark_cut();
    h = b.op(OpType::kRmsNorm, p + "ffn_norm", {x}, hp.n_embd, w(l, "ffn_norm"), l, norm);
    int gate_up = b.op(OpType::kMatmul, p + "ffn_up", {h}, 2 * int64_t{hp.n_ff}, w(l, "ffn_up"), l);
    int gate = b.op(OpType::kSlice, p + "ffn_gate", {gate_up}, hp.n_ff, {}, l, build::slice(0));
    int up =
        b.op(OpType::kSlice, p + "ffn_up_half", {gate_up}, hp.n_ff, {}, l, build::slice(hp.n_ff));
    int act = b.op(OpType::kSwiGlu, p + "ffn_swiglu", {gate, up}, hp.n_ff, {}, l);
    int down = b.op(OpType::kMatmul, p + "ffn_down", {act}, hp.n_embd, w(l, "ffn_down"), l);
    x = b.op(OpType::kAdd, p + "ffn_residual", {x, down}, hp.n_embd, {}, l);
    b.mark_cut();
  }
  const int logits = build::lm_head(b, hp, x, OpType::kRmsNorm, /*norm_bias=*/false);
  return b.finish(tokens, logits);
}

}  // namespace

const Arch kArchPhi3 = {"phi3", read_phi3, build_phi3};

}  // namespace ll::model
