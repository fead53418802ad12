// llama (also Mistral-style files, which GGUF names llama): pre-norm blocks of grouped-query
// attention with RoPE (adjacent-pair rotation) and a SwiGLU feed-forward, each followed by a
// residual add (the default cut points). Linear rope scaling and llama-3.1 frequency factors
// (rope_freqs.weight) are honoured.
#include "model/arch_llama.h"

namespace ll::model {

using graph::OpType;

graph::Graph build_llama_like(const HParams& hp, bool qkv_bias, graph::RopeStyle rope_style) {
  graph::GraphBuilder b(hp);
  const int64_t n_q = static_cast<int64_t>(hp.n_head) * hp.head_dim;
  const int64_t n_kv = hp.n_embd_kv();
  const graph::OpParams norm = build::norm(hp);
  const int tokens = b.input("tokens", 1);
  int x = b.op(OpType::kEmbed, "token_embd", {tokens}, hp.n_embd, {"token_embd.weight"});
  b.mark_cut();
  for (int l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    using build::w;
    int h = b.op(OpType::kRmsNorm, p + "attn_norm", {x}, hp.n_embd, w(l, "attn_norm"), l, norm);
    build::Qkv qkv{b.op(OpType::kMatmul, p + "attn_q", {h}, n_q, w(l, "attn_q", qkv_bias), l),
                   b.op(OpType::kMatmul, p + "attn_k", {h}, n_kv, w(l, "attn_k", qkv_bias), l),
                   b.op(OpType::kMatmul, p + "attn_v", {h}, n_kv, w(l, "attn_v", qkv_bias), l)};
    qkv = build::rope_qk(b, hp, qkv, l, rope_style);
    int o = build::attention_out(b, hp, qkv, l, /*out_bias=*/false);
    x = b.op(OpType::kAdd, p + "attn_residual", {x, o}, hp.n_embd, {}, l);
    b.mark_cut();
    h = b.op(OpType::kRmsNorm, p + "ffn_norm", {x}, hp.n_embd, w(l, "ffn_norm"), l, norm);
    int gate = b.op(OpType::kMatmul, p + "ffn_gate", {h}, hp.n_ff, w(l, "ffn_gate"), l);
    int up = b.op(OpType::kMatmul, p + "ffn_up", {h}, hp.n_ff, w(l, "ffn_up"), l);
    int act = b.op(OpType::kSwiGlu, p + "ffn_swiglu", {gate, up}, hp.n_ff, {}, l);
    int down = b.op(OpType::kMatmul, p + "ffn_down", {act}, hp.n_embd, w(l, "ffn_down"), l);
    x = b.op(OpType::kAdd, p + "ffn_residual", {x, down}, hp.n_embd, {}, l);
    b.mark_cut();
  }
  const int logits = build::lm_head(b, hp, x, OpType::kRmsNorm, /*norm_bias=*/false);
  return b.finish(tokens, logits);
}

namespace {

Status read_llama(const gguf::File& f, HParams* hp) {
  return read_rope(f, hp);
}

graph::Graph build_llama(const HParams& hp) {
  return build_llama_like(hp, /*qkv_bias=*/false, graph::RopeStyle::kNormal);
}

}  // namespace

const Arch kArchLlama = {"llama", read_llama, build_llama};

}  // namespace ll::model
