#include "plan/synthetic.h"

#include <algorithm>

namespace ll::plan {
namespace {

double bytes_of(DType t, double elements) {
  DTypeInfo i = dtype_info(t);
  return elements * i.bytes_per_block / i.block_size;
}

// A matrix of `elements` weights: resident and streamed once per decode token.
void add_matrix(Segment& g, DType t, double elements) {
  double b = bytes_of(t, elements);
  g.weight_bytes_by_type[t] += b;
  g.weight_bytes_resident += b;
  g.flops_decode += 2 * elements;
  g.flops_prefill_per_token += 2 * elements;
}

void add_other(Segment& g, double flops) {
  g.flops_other += flops;
  g.flops_decode += flops;
  g.flops_prefill_per_token += flops;
}

}  // namespace

ModelProfile make_synthetic_model(const SyntheticModelSpec& p) {
  ModelProfile m;
  m.name = p.name;
  m.n_layer = p.n_layer;
  const double E = p.n_embd, F = p.n_ff, V = p.n_vocab;
  const double kv_dim = E * p.n_head_kv / p.n_head;
  const DType t = p.weight_type;
  for (int l = 0; l < p.n_layer; ++l) {
    Segment attn;
    const std::string layer = std::string("L").append(std::to_string(l));
    attn.label = layer + (p.segments_per_layer == 1 ? "" : ".attn");
    attn.layer_first = attn.layer_last = l;
    add_matrix(attn, DType::kF32, E);  // attn_norm
    add_matrix(attn, t, 2 * E * E + 2 * E * kv_dim);
    attn.kv_bytes_per_token = 2 * kv_dim * 2;  // K and V, f16
    // Rope/norm/softmax elementwise work; QK^T and softmax(QK^T)V over the context count in
    // the FLOP totals only, since the cost model charges attention by its KV reads.
    add_other(attn, 10 * E + 5.0 * p.n_head * p.attention_ctx);
    attn.flops_decode += 4 * E * p.attention_ctx;
    attn.flops_prefill_per_token += 4 * E * p.attention_ctx;
    attn.scratch_bytes = (4 * E + static_cast<double>(p.n_head) * p.attention_ctx) * 4;
    Segment ffn;
    ffn.label = layer + ".ffn";
    ffn.layer_first = ffn.layer_last = l;
    add_matrix(ffn, DType::kF32, E);  // ffn_norm
    add_matrix(ffn, t, 3 * E * F);
    add_other(ffn, 10 * F + 5 * E);
    ffn.scratch_bytes = (2 * F + E) * 4;
    if (p.segments_per_layer == 1) {
      for (const auto& [type, b] : ffn.weight_bytes_by_type) attn.weight_bytes_by_type[type] += b;
      attn.weight_bytes_resident += ffn.weight_bytes_resident;
      attn.flops_decode += ffn.flops_decode;
      attn.flops_other += ffn.flops_other;
      attn.flops_prefill_per_token += ffn.flops_prefill_per_token;
      attn.scratch_bytes = std::max(attn.scratch_bytes, ffn.scratch_bytes);
      m.segments.push_back(std::move(attn));
    } else {
      m.segments.push_back(std::move(attn));
      m.segments.push_back(std::move(ffn));
    }
  }
  // The embedding table is resident, but a lookup streams just one row.
  Segment& first = m.segments.front();
  first.label = "embd+" + first.label;
  first.weight_bytes_resident += bytes_of(t, V * E);
  first.weight_bytes_by_type[t] += bytes_of(t, E);
  Segment& last = m.segments.back();
  last.label += "+head";
  add_matrix(last, DType::kF32, E);  // output_norm
  add_matrix(last, t, V * E);
  last.scratch_bytes = std::max(last.scratch_bytes, V * 4);
  const int S = static_cast<int>(m.segments.size());
  for (int s = 0; s + 1 < S; ++s) m.segments[s].edges.push_back({s + 1, E * p.activation_bytes});
  if (p.residual_edge_bytes > 0) {
    for (int s = 2; s < S; ++s) m.segments[0].edges.push_back({s, p.residual_edge_bytes});
  }
  m.n_params = p.n_layer * (2 * E * E + 2 * E * kv_dim + 3 * E * F + 2 * E) + 2 * V * E + E;
  return m;
}

}  // namespace ll::plan
