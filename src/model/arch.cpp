#include "model/arch.h"

#include <cmath>

namespace ll::model {

const std::vector<const Arch*>& archs() {
  static const std::vector<const Arch*> all = {&kArchLlama, &kArchQwen2, &kArchGpt2,
                                               &kArchBloom, &kArchPhi3,  &kArchFalcon};
  return all;
}

const Arch* find_arch(const std::string& name) {
  for (const Arch* a : archs()) {
    if (name == a->name) return a;
  }
  return nullptr;
}

std::string arch_names() {
  std::string s;
  for (const Arch* a : archs()) s += (s.empty() ? "" : ", ") + std::string(a->name);
  return s;
}

Result<HParams> read_hparams(const gguf::File& file) {
  const std::string name = file.architecture();
  const Arch* a = find_arch(name);
  if (!a && !name.empty()) {
    return unsupported("architecture '" + name + "' is not supported (supported: " + arch_names() +
                       ")");
  }
  LL_ASSIGN_OR_RETURN(HParams hp, read_common_hparams(file));
  LL_RETURN_IF_ERROR(a->read(file, &hp));
  return hp;
}

Result<graph::Graph> build_graph(const gguf::File& file, bool check_weights) {
  LL_ASSIGN_OR_RETURN(HParams hp, read_hparams(file));
  graph::Graph g = find_arch(hp.arch)->build(hp);
  if (check_weights) LL_RETURN_IF_ERROR(graph::check_weights(g, file));
  return g;
}

namespace build {

using graph::OpParams;
using graph::OpType;

OpParams norm(const HParams& hp) {
  OpParams p;
  p.eps = hp.norm_eps;
  return p;
}

OpParams rope(const HParams& hp, int n_head, graph::RopeStyle style) {
  OpParams p;
  p.n_head = n_head;
  p.head_dim = hp.head_dim;
  p.n_rot = hp.n_rot;
  p.freq_base = hp.rope_freq_base;
  p.freq_scale = hp.rope_freq_scale;
  p.rope_style = style;
  return p;
}

OpParams attention(const HParams& hp, bool alibi) {
  OpParams p;
  p.n_head = hp.n_head;
  p.n_head_kv = hp.n_head_kv;
  p.head_dim = hp.head_dim;
  p.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
  p.alibi = alibi;
  return p;
}

OpParams slice(int64_t offset) {
  OpParams p;
  p.offset = offset;
  return p;
}

std::vector<std::string> w(int l, const std::string& name, bool bias) {
  const std::string p = "blk." + std::to_string(l) + "." + name;
  std::vector<std::string> v{p + ".weight"};
  if (bias) v.push_back(p + ".bias");
  return v;
}

std::string prefix(int l) {
  return "blk." + std::to_string(l) + ".";
}

Qkv fused_qkv(graph::GraphBuilder& b, const HParams& hp, int h, int l, bool bias) {
  const int64_t n_q = static_cast<int64_t>(hp.n_head) * hp.head_dim, n_kv = hp.n_embd_kv();
  const std::string p = prefix(l);
  const int qkv =
      b.op(OpType::kMatmul, p + "attn_qkv", {h}, n_q + 2 * n_kv, w(l, "attn_qkv", bias), l);
  return Qkv{b.op(OpType::kSlice, p + "attn_q", {qkv}, n_q, {}, l, slice(0)),
             b.op(OpType::kSlice, p + "attn_k", {qkv}, n_kv, {}, l, slice(n_q)),
             b.op(OpType::kSlice, p + "attn_v", {qkv}, n_kv, {}, l, slice(n_q + n_kv))};
}

Qkv rope_qk(graph::GraphBuilder& b, const HParams& hp, Qkv qkv, int l, graph::RopeStyle style) {
  const std::string p = prefix(l);
  std::vector<std::string> freqs;
  if (hp.rope_freq_factors) freqs.push_back("rope_freqs.weight");
  qkv.q = b.op(OpType::kRope, p + "rope_q", {qkv.q}, b.width(qkv.q), freqs, l,
               rope(hp, hp.n_head, style));
  qkv.k = b.op(OpType::kRope, p + "rope_k", {qkv.k}, b.width(qkv.k), freqs, l,
               rope(hp, hp.n_head_kv, style));
  return qkv;
}

int attention_out(graph::GraphBuilder& b, const HParams& hp, Qkv qkv, int l, bool out_bias,
                  bool alibi) {
  const std::string p = prefix(l);
  const int64_t n_q = static_cast<int64_t>(hp.n_head) * hp.head_dim;
  const int a =
      b.op(OpType::kAttention, p + "attn", {qkv.q, qkv.k, qkv.v}, n_q, {}, l, attention(hp, alibi));
  return b.op(OpType::kMatmul, p + "attn_output", {a}, hp.n_embd, w(l, "attn_output", out_bias), l);
}

int fused_qkv_attention(graph::GraphBuilder& b, const HParams& hp, int h, int l,
                        graph::RopeStyle style) {
  const Qkv qkv = rope_qk(b, hp, fused_qkv(b, hp, h, l, /*bias=*/false), l, style);
  return attention_out(b, hp, qkv, l, /*out_bias=*/false);
}

int layernorm_gelu_block(graph::GraphBuilder& b, const HParams& hp, int x, int l, bool alibi) {
  const std::string p = prefix(l);
  const graph::OpParams ln = norm(hp);
  int h = b.op(OpType::kLayerNorm, p + "attn_norm", {x}, hp.n_embd, w(l, "attn_norm", true), l, ln);
  const Qkv qkv = fused_qkv(b, hp, h, l, /*bias=*/true);
  const int o = attention_out(b, hp, qkv, l, /*out_bias=*/true, alibi);
  x = b.op(OpType::kAdd, p + "attn_residual", {x, o}, hp.n_embd, {}, l);
  b.mark_cut();
  h = b.op(OpType::kLayerNorm, p + "ffn_norm", {x}, hp.n_embd, w(l, "ffn_norm", true), l, ln);
  const int up = b.op(OpType::kMatmul, p + "ffn_up", {h}, hp.n_ff, w(l, "ffn_up", true), l);
  const int act = b.op(OpType::kGelu, p + "ffn_gelu", {up}, hp.n_ff, {}, l);
  const int down =
      b.op(OpType::kMatmul, p + "ffn_down", {act}, hp.n_embd, w(l, "ffn_down", true), l);
  x = b.op(OpType::kAdd, p + "ffn_residual", {x, down}, hp.n_embd, {}, l);
  b.mark_cut();
  return x;
}

int lm_head(graph::GraphBuilder& b, const HParams& hp, int x, OpType norm_op, bool norm_bias) {
  x = b.op(OpType::kSelectRows, "select_output_rows", {x}, hp.n_embd);
  std::vector<std::string> nw{"output_norm.weight"};
  if (norm_bias) nw.push_back("output_norm.bias");
  x = b.op(norm_op, "output_norm", {x}, hp.n_embd, nw, -1, norm(hp));
  const std::string head = hp.tied_output ? "token_embd.weight" : "output.weight";
  return b.op(OpType::kMatmul, "output", {x}, hp.n_vocab, {head});
}

}  // namespace build

}  // namespace ll::model
