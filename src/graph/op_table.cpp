#include "graph/op_table.h"

#include <cmath>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/ops.h"

namespace ll::graph {

namespace {

int64_t width(const Graph& g, int t) {
  return g.tensors[t].width;
}
int64_t in_width(const Graph& g, const Node& n) {
  return n.inputs.empty() ? 0 : width(g, n.inputs[0]);
}

Status shape_error(const Node& n, const std::string& what) {
  return invalid_argument("weight shape mismatch in " + n.label + ": " + what);
}

Status bind_nothing(const Graph&, BoundNode*) {
  return Status::ok();
}
OpCost cost_nothing(const Graph&, const Node&) {
  return {};
}
OpCost other_flops(double per_out) {
  OpCost c;
  c.other_flops = per_out;
  return c;
}

// ---- embeddings: a row of a table per token (or per position)

Status bind_table(const Graph& g, BoundNode* bn) {
  if (bn->w[0]->ne[0] != width(g, bn->node->output))
    return shape_error(*bn->node, "embedding width");
  return Status::ok();
}

Status run_embed(const OpRun& r) {
  const WeightView* w = r.bn.w[0];
  const size_t row_b = row_bytes(w->type, r.out_w);
  for (int i = 0; i < r.rows; ++i) {
    const int32_t tok = r.batch.tokens[i];
    if (tok < 0 || tok >= w->rows()) {
      return invalid_argument("token id " + std::to_string(tok) +
                              " is outside the vocabulary (0.." + std::to_string(w->rows() - 1) +
                              ")");
    }
    kernels::dequantize_row(w->type, static_cast<const uint8_t*>(w->data) + row_b * tok,
                            r.y + i * r.out_w, r.out_w);
  }
  return Status::ok();
}

Status run_add_pos_embd(const OpRun& r) {
  const WeightView* w = r.bn.w[0];
  const size_t row_b = row_bytes(w->type, r.out_w);
  const float* x = r.in[0];
  std::vector<float> row(r.out_w);  // [out_w]
  for (int i = 0; i < r.rows; ++i) {
    if (r.batch.pos[i] >= w->rows())
      return invalid_argument("position " + std::to_string(r.batch.pos[i]) +
                              " exceeds the model's learned positions");
    kernels::dequantize_row(w->type, static_cast<const uint8_t*>(w->data) + row_b * r.batch.pos[i],
                            row.data(), r.out_w);
    for (int64_t j = 0; j < r.out_w; ++j) r.y[i * r.out_w + j] = x[i * r.out_w + j] + row[j];
  }
  return Status::ok();
}

OpCost cost_add_pos_embd(const Graph& g, const Node& n) {
  return other_flops(static_cast<double>(width(g, n.output)));
}

// ---- norms

Status bind_norm(const Graph& g, BoundNode* bn) {
  const int64_t out_w = width(g, bn->node->output);
  for (const WeightView* w : bn->w) {
    if (w->ne[0] != out_w || w->rows() != 1) return shape_error(*bn->node, "norm weight length");
    std::vector<float> f(out_w);  // [out_w]
    kernels::dequantize_row(w->type, w->data, f.data(), out_w);
    bn->w_f32.push_back(std::move(f));
  }
  return Status::ok();
}

Status run_rms_norm(const OpRun& r) {
  for (int i = 0; i < r.out_rows; ++i) {
    kernels::rms_norm(r.in[0] + i * r.in_w, r.bn.w_f32[0].data(), r.y + i * r.out_w, r.out_w,
                      r.bn.node->params.eps);
  }
  return Status::ok();
}

Status run_layer_norm(const OpRun& r) {
  const float* b = r.bn.w_f32.size() > 1 ? r.bn.w_f32[1].data() : nullptr;
  for (int i = 0; i < r.out_rows; ++i) {
    kernels::layer_norm(r.in[0] + i * r.in_w, r.bn.w_f32[0].data(), b, r.y + i * r.out_w, r.out_w,
                        r.bn.node->params.eps);
  }
  return Status::ok();
}

OpCost cost_rms_norm(const Graph& g, const Node& n) {
  return other_flops(4.0 * width(g, n.output));
}
OpCost cost_layer_norm(const Graph& g, const Node& n) {
  return other_flops(7.0 * width(g, n.output));
}

// ---- matmul (with an optional bias)

Status bind_matmul(const Graph& g, BoundNode* bn) {
  const Node& n = *bn->node;
  const int64_t in_w = in_width(g, n), out_w = width(g, n.output);
  const WeightView* w = bn->w[0];
  if (w->ne.size() != 2 || w->ne[0] != in_w || w->ne[1] != out_w)
    return shape_error(n, "expected [" + std::to_string(in_w) + ", " + std::to_string(out_w) + "]");
  if (bn->w.size() > 1) {
    if (bn->w[1]->ne[0] != out_w) return shape_error(n, "bias length");
    std::vector<float> b(out_w);  // [out_w]
    kernels::dequantize_row(bn->w[1]->type, bn->w[1]->data, b.data(), out_w);
    bn->w_f32.push_back(std::move(b));
  }
  return Status::ok();
}

Status run_matmul(const OpRun& r) {
  const BoundNode& bn = r.bn;
  const WeightView* w = bn.w[0];
  const float* x = r.in[0];
  float* y = r.y;
  const int64_t out_w = r.out_w;
  if (r.leader) {
    const int64_t fused_w = r.leader->packed->n_rows();
    if (r.leader == &bn) {
      r.fused_out->resize(static_cast<size_t>(r.out_rows) * fused_w);
      bn.packed->matmul(x, r.out_rows, r.fused_out->data(), r.pool, kernels::Isa::kBest,
                        bn.next_packed);
    }
    for (int i = 0; i < r.out_rows; ++i) {
      std::memcpy(y + i * out_w, r.fused_out->data() + i * fused_w + bn.fused_offset,
                  sizeof(float) * out_w);
    }
  } else if (bn.packed) {
    bn.packed->matmul(x, r.out_rows, y, r.pool, kernels::Isa::kBest, bn.next_packed);
  } else if (r.out_rows == 1) {
    kernels::matvec(w->type, w->data, out_w, r.in_w, x, y, r.pool);
  } else {
    kernels::matmul(w->type, w->data, out_w, r.in_w, x, r.out_rows, y, r.pool);
  }
  if (!bn.w_f32.empty()) {
    const float* bias = bn.w_f32[0].data();
    for (int i = 0; i < r.out_rows; ++i) {
      for (int64_t j = 0; j < out_w; ++j) y[i * out_w + j] += bias[j];
    }
  }
  return Status::ok();
}

OpCost cost_matmul(const Graph& g, const Node& n) {
  OpCost c;
  const int64_t out_w = width(g, n.output);
  c.matmul_flops = 2.0 * in_width(g, n) * out_w + (n.weights.size() > 1 ? out_w : 0);
  return c;
}

// ---- rope and attention

kernels::RopeStyle to_kernel(RopeStyle s) {
  return s == RopeStyle::kNeox ? kernels::RopeStyle::kNeox : kernels::RopeStyle::kNormal;
}

Status run_rope(const OpRun& r) {
  if (r.in[0] != r.y) std::memcpy(r.y, r.in[0], sizeof(float) * r.rows * r.out_w);
  const OpParams& p = r.bn.node->params;
  for (int i = 0; i < r.rows; ++i) {
    kernels::rope_inplace(r.y + i * r.out_w, p.n_head, p.head_dim, p.n_rot, r.batch.pos[i],
                          p.freq_base, to_kernel(p.rope_style), p.freq_scale,
                          r.bn.w_f32.empty() ? nullptr : r.bn.w_f32[0].data());
  }
  return Status::ok();
}

// Optional weight: per-dimension frequency divisors [n_rot / 2] (rope_freqs.weight).
Status bind_rope(const Graph&, BoundNode* bn) {
  const Node& n = *bn->node;
  if (bn->w.empty()) return Status::ok();
  const WeightView* w = bn->w[0];
  if (w->ne[0] != n.params.n_rot / 2 || w->rows() != 1)
    return shape_error(
        n, "rope frequency factors need " + std::to_string(n.params.n_rot / 2) + " values");
  std::vector<float> f(w->ne[0]);  // [n_rot / 2]
  kernels::dequantize_row(w->type, w->data, f.data(), w->ne[0]);
  bn->w_f32.push_back(std::move(f));
  return Status::ok();
}

OpCost cost_rope(const Graph&, const Node& n) {
  return other_flops(3.0 * n.params.n_head * n.params.n_rot);
}

// ALiBi slopes as BLOOM defines them (maximum bias 8): for the largest power of two n2 <= n_head,
// head h < n2 gets 2^(-8 (h + 1) / n2); the remaining heads take the odd multiples of half that
// step, 2^(-4 (2 (h - n2) + 1) / n2).
std::vector<float> alibi_slopes(int n_head) {
  int n2 = 1;
  while (n2 * 2 <= n_head) n2 *= 2;
  const double m0 = std::pow(2.0, -8.0 / n2), m1 = std::pow(2.0, -4.0 / n2);
  std::vector<float> s(n_head);  // [n_head]
  for (int h = 0; h < n_head; ++h)
    s[h] = static_cast<float>(h < n2 ? std::pow(m0, h + 1) : std::pow(m1, 2 * (h - n2) + 1));
  return s;
}

Status bind_attention(const Graph&, BoundNode* bn) {
  if (bn->node->params.alibi) bn->w_f32.push_back(alibi_slopes(bn->node->params.n_head));
  return Status::ok();
}

Status run_attention(const OpRun& r) {
  const Node& node = *r.bn.node;
  KvCache* kv = r.kv;
  const Batch& batch = r.batch;
  const int rows = r.rows;
  if (!kv || !kv->has_layer(node.layer))
    return internal_error("no KV cache for layer " + std::to_string(node.layer));
  const float* q = r.in[0];
  const float* k = r.in[1];
  const float* v = r.in[2];
  const int64_t kv_w = width(r.g, node.inputs[1]);
  std::vector<int> slots(rows);
  for (int i = 0; i < rows; ++i) {
    LL_ASSIGN_OR_RETURN(slots[i], kv->slot(batch.seq[i]));
    if (batch.pos[i] < 0 || batch.pos[i] >= kv->n_ctx()) {
      return invalid_argument("position " + std::to_string(batch.pos[i]) +
                              " is beyond the context of " + std::to_string(kv->n_ctx()) +
                              " tokens");
    }
    std::memcpy(kv->k(node.layer, slots[i]) + batch.pos[i] * kv_w, k + i * kv_w,
                sizeof(float) * kv_w);
    std::memcpy(kv->v(node.layer, slots[i]) + batch.pos[i] * kv_w, v + i * kv_w,
                sizeof(float) * kv_w);
  }
  const OpParams& p = node.params;
  const float* slopes = p.alibi ? r.bn.w_f32[0].data() : nullptr;
  auto one = [&](int64_t i, int) {
    kernels::attention(q + i * r.in_w, kv->k(node.layer, slots[i]), kv->v(node.layer, slots[i]),
                       batch.pos[i] + 1, p.n_head, p.n_head_kv, p.head_dim, p.attn_scale,
                       r.y + i * r.out_w, slopes);
  };
  if (r.pool && rows > 1) {
    r.pool->parallel_for(rows, one);
  } else if (r.pool && rows == 1 &&
             static_cast<int64_t>(batch.pos[0] + 1) * p.n_head * p.head_dim >= (1 << 15)) {
    // One query (decode): split its heads instead, so no thread idles through it.
    const float* kc = kv->k(node.layer, slots[0]);
    const float* vc = kv->v(node.layer, slots[0]);
    r.pool->parallel_range(p.n_head, [&](int64_t h0, int64_t h1, int) {
      kernels::attention_heads(q, kc, vc, batch.pos[0] + 1, p.n_head, p.n_head_kv, p.head_dim,
                               p.attn_scale, r.y, slopes, static_cast<int>(h0),
                               static_cast<int>(h1));
    });
  } else {
    for (int i = 0; i < rows; ++i) one(i, 0);
  }
  return Status::ok();
}

OpCost cost_attention(const Graph& g, const Node& n) {
  OpCost c;
  c.attn_flops_per_ctx = 4.0 * n.params.n_head * n.params.head_dim;
  c.kv_bytes_per_token = 2.0 * g.hp.n_embd_kv() * sizeof(float);
  return c;
}

// ---- element-wise

Status run_add(const OpRun& r) {
  kernels::add(r.in[0], r.in[1], r.y, static_cast<int64_t>(r.out_rows) * r.out_w);
  return Status::ok();
}
OpCost cost_add(const Graph& g, const Node& n) {
  return other_flops(static_cast<double>(width(g, n.output)));
}

Status run_swiglu(const OpRun& r) {
  const int64_t n = static_cast<int64_t>(r.out_rows) * r.out_w;
  kernels::silu(r.in[0], r.y, n);
  kernels::mul(r.y, r.in[1], r.y, n);
  return Status::ok();
}
OpCost cost_swiglu(const Graph& g, const Node& n) {
  return other_flops(6.0 * width(g, n.output));
}

Status run_gelu(const OpRun& r) {
  kernels::gelu(r.in[0], r.y, static_cast<int64_t>(r.out_rows) * r.out_w);
  return Status::ok();
}
OpCost cost_gelu(const Graph& g, const Node& n) {
  return other_flops(10.0 * width(g, n.output));
}

// ---- row and column selection

Status run_select_rows(const OpRun& r) {
  int o = 0;
  for (int i = 0; i < r.rows; ++i) {
    if (r.batch.want_logits[i])
      std::memcpy(r.y + (o++) * r.out_w, r.in[0] + i * r.in_w, sizeof(float) * r.out_w);
  }
  return Status::ok();
}

Status bind_slice(const Graph& g, BoundNode* bn) {
  const Node& n = *bn->node;
  if (n.params.offset < 0 || n.params.offset + width(g, n.output) > in_width(g, n))
    return invalid_argument("slice " + n.label + " reaches outside its input");
  return Status::ok();
}

// The slice's output never shares the arena with its input (they are live together), so a
// plain copy is safe.
Status run_slice(const OpRun& r) {
  for (int i = 0; i < r.out_rows; ++i) {
    std::memcpy(r.y + i * r.out_w, r.in[0] + i * r.in_w + r.bn.node->params.offset,
                sizeof(float) * r.out_w);
  }
  return Status::ok();
}

// Indexed by OpType; the order must match the enum (checked in op_def).
const OpDef kOps[] = {
    {"embed", bind_table, run_embed, cost_nothing, true, false},
    {"add_pos_embd", bind_table, run_add_pos_embd, cost_add_pos_embd, true, false},
    {"rms_norm", bind_norm, run_rms_norm, cost_rms_norm, false, false},
    {"layer_norm", bind_norm, run_layer_norm, cost_layer_norm, false, false},
    {"matmul", bind_matmul, run_matmul, cost_matmul, false, false},
    {"rope", bind_rope, run_rope, cost_rope, false, false},
    {"attention", bind_attention, run_attention, cost_attention, false, true},
    {"add", bind_nothing, run_add, cost_add, false, false},
    {"swiglu", bind_nothing, run_swiglu, cost_swiglu, false, false},
    {"gelu", bind_nothing, run_gelu, cost_gelu, false, false},
    {"select_rows", bind_nothing, run_select_rows, cost_nothing, false, false},
    {"slice", bind_slice, run_slice, cost_nothing, false, false},
};
static_assert(sizeof(kOps) / sizeof(kOps[0]) == static_cast<size_t>(OpType::kCount),
              "every OpType needs an entry in kOps, in enum order");

}  // namespace

const OpDef& op_def(OpType op) {
  return kOps[static_cast<int>(op)];
}

}  // namespace ll::graph
