// Llama-family forward graph: pre-norm blocks of grouped-query attention with RoPE and a
// SwiGLU feed-forward, each followed by a residual add (the default cut points).
#include "graph/builder.h"

#include <cmath>

namespace ll::graph {

Result<Graph> build_llama(const HParams& hp, bool qkv_bias, RopeStyle rope_style) {
  GraphBuilder b(hp);
  const int64_t n_q = static_cast<int64_t>(hp.n_head) * hp.head_dim;
  const int64_t n_kv = hp.n_embd_kv();
  OpParams norm;
  norm.eps = hp.norm_eps;
  OpParams rope;
  rope.n_head = hp.n_head;
  rope.head_dim = hp.head_dim;
  rope.n_rot = hp.n_rot;
  rope.freq_base = hp.rope_freq_base;
  rope.rope_style = rope_style;
  OpParams rope_k = rope;
  rope_k.n_head = hp.n_head_kv;
  OpParams attn;
  attn.n_head = hp.n_head;
  attn.n_head_kv = hp.n_head_kv;
  attn.head_dim = hp.head_dim;
  attn.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));

  const int tokens = b.input("tokens", 1);
  int x = b.op(OpType::kEmbed, "token_embd", {tokens}, hp.n_embd, {"token_embd.weight"});
  b.mark_cut();
  for (int l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    auto w = [&](const char* name, bool bias = false) {
      std::vector<std::string> v{p + name + ".weight"};
      if (bias) v.push_back(p + name + ".bias");
      return v;
    };
    int h = b.op(OpType::kRmsNorm, p + "attn_norm", {x}, hp.n_embd, w("attn_norm"), l, norm);
    int q = b.op(OpType::kMatmul, p + "attn_q", {h}, n_q, w("attn_q", qkv_bias), l);
    int k = b.op(OpType::kMatmul, p + "attn_k", {h}, n_kv, w("attn_k", qkv_bias), l);
    int v = b.op(OpType::kMatmul, p + "attn_v", {h}, n_kv, w("attn_v", qkv_bias), l);
    q = b.op(OpType::kRope, p + "rope_q", {q}, n_q, {}, l, rope);
    k = b.op(OpType::kRope, p + "rope_k", {k}, n_kv, {}, l, rope_k);
    int a = b.op(OpType::kAttention, p + "attn", {q, k, v}, n_q, {}, l, attn);
    int o = b.op(OpType::kMatmul, p + "attn_output", {a}, hp.n_embd, w("attn_output"), l);
    x = b.op(OpType::kAdd, p + "attn_residual", {x, o}, hp.n_embd, {}, l);
    b.mark_cut();
    h = b.op(OpType::kRmsNorm, p + "ffn_norm", {x}, hp.n_embd, w("ffn_norm"), l, norm);
    int gate = b.op(OpType::kMatmul, p + "ffn_gate", {h}, hp.n_ff, w("ffn_gate"), l);
    int up = b.op(OpType::kMatmul, p + "ffn_up", {h}, hp.n_ff, w("ffn_up"), l);
    int act = b.op(OpType::kSwiGlu, p + "ffn_swiglu", {gate, up}, hp.n_ff, {}, l);
    int down = b.op(OpType::kMatmul, p + "ffn_down", {act}, hp.n_embd, w("ffn_down"), l);
    x = b.op(OpType::kAdd, p + "ffn_residual", {x, down}, hp.n_embd, {}, l);
    b.mark_cut();
  }
  x = b.op(OpType::kSelectRows, "select_output_rows", {x}, hp.n_embd);
  x = b.op(OpType::kRmsNorm, "output_norm", {x}, hp.n_embd, {"output_norm.weight"}, -1, norm);
  const std::string head = hp.tied_output ? "token_embd.weight" : "output.weight";
  const int logits = b.op(OpType::kMatmul, "output", {x}, hp.n_vocab, {head});
  return b.finish(tokens, logits);
}

}  // namespace ll::graph
