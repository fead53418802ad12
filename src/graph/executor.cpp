#include "graph/executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/ops.h"

namespace ll::graph {

namespace {

kernels::RopeStyle to_kernel(RopeStyle s) {
  return s == RopeStyle::kNeox ? kernels::RopeStyle::kNeox : kernels::RopeStyle::kNormal;
}

}  // namespace

Result<std::unique_ptr<SegmentExecutor>> SegmentExecutor::create(const Graph& g,
                                                                 const Segmentation& s, int segment,
                                                                 const WeightSource& weights) {
  if (segment < 0 || segment >= s.size()) return invalid_argument("segment index out of range");
  std::unique_ptr<SegmentExecutor> ex(new SegmentExecutor(g));
  LL_RETURN_IF_ERROR(ex->bind(s, segment, weights));
  ex->plan_scratch();
  return ex;
}

Status SegmentExecutor::bind(const Segmentation& s, int segment, const WeightSource& weights) {
  begin_ = s.begin(segment);
  end_ = s.end(segment);
  const TransmissionMap map = build_map(g_, s);
  inputs_ = map.inputs[segment];
  outputs_ = map.outputs[segment];
  for (int n = begin_; n < end_; ++n) {
    const Node& node = g_.nodes[n];
    BoundNode bn{&node, {}, {}};
    for (const std::string& name : node.weights) {
      const WeightView* w = weights.find(name);
      if (!w) return not_found("weight '" + name + "' for " + node.label + " is not loaded");
      bn.w.push_back(w);
    }
    const int64_t in_w = node.inputs.empty() ? 0 : g_.tensors[node.inputs[0]].width;
    const int64_t out_w = g_.tensors[node.output].width;
    auto check = [&](bool ok, const std::string& what) {
      return ok ? Status::ok()
                : invalid_argument("weight shape mismatch in " + node.label + ": " + what);
    };
    switch (node.op) {
      case OpType::kMatmul: {
        const WeightView* w = bn.w[0];
        LL_RETURN_IF_ERROR(
            check(w->ne.size() == 2 && w->ne[0] == in_w && w->ne[1] == out_w,
                  "expected [" + std::to_string(in_w) + ", " + std::to_string(out_w) + "]"));
        if (bn.w.size() > 1) {
          LL_RETURN_IF_ERROR(check(bn.w[1]->ne[0] == out_w, "bias length"));
          std::vector<float> b(out_w);
          kernels::dequantize_row(bn.w[1]->type, bn.w[1]->data, b.data(), out_w);
          bn.w_f32.push_back(std::move(b));
        }
        break;
      }
      case OpType::kRmsNorm:
      case OpType::kLayerNorm:
        for (const WeightView* w : bn.w) {
          LL_RETURN_IF_ERROR(check(w->ne[0] == out_w && w->rows() == 1, "norm weight length"));
          std::vector<float> f(out_w);
          kernels::dequantize_row(w->type, w->data, f.data(), out_w);
          bn.w_f32.push_back(std::move(f));
        }
        break;
      case OpType::kEmbed:
      case OpType::kAddPosEmbd:
        LL_RETURN_IF_ERROR(check(bn.w[0]->ne[0] == out_w, "embedding width"));
        break;
      case OpType::kAttention:
        attn_layers_.push_back(node.layer);
        break;
      default:
        break;
    }
    for (int t : node.inputs) {
      if (t == g_.tokens) reads_tokens_ = true;
    }
    nodes_.push_back(std::move(bn));
  }
  pack_weights(weights);
  return Status::ok();
}

// Quantized matmul weights go into the kernels' packed layout, once. Runs of consecutive
// matmuls over the same input become one product.
void SegmentExecutor::pack_weights(const WeightSource& weights) {
  auto packable = [&](const BoundNode& bn) {
    const Node& node = *bn.node;
    return node.op == OpType::kMatmul &&
           kernels::packable(bn.w[0]->type, g_.tensors[node.output].width, bn.w[0]->ne[0]);
  };
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!packable(nodes_[i])) continue;
    const Node& lead = *nodes_[i].node;
    const DType type = nodes_[i].w[0]->type;
    size_t end = i + 1;
    while (end < nodes_.size() && packable(nodes_[end]) &&
           nodes_[end].node->inputs[0] == lead.inputs[0] && nodes_[end].w[0]->type == type &&
           g_.tensors[nodes_[end].node->output].selected == g_.tensors[lead.output].selected) {
      ++end;
    }
    std::vector<kernels::PackedMatrix::Part> parts;
    int64_t offset = 0;
    for (size_t j = i; j < end; ++j) {
      const int64_t width = g_.tensors[nodes_[j].node->output].width;
      parts.push_back({nodes_[j].w[0]->data, width});
      if (end - i > 1) {
        nodes_[j].fused_leader = static_cast<int>(i);
        nodes_[j].fused_offset = offset;
      }
      offset += width;
    }
    nodes_[i].packed = std::make_unique<kernels::PackedMatrix>(
        kernels::PackedMatrix::pack(type, parts, nodes_[i].w[0]->ne[0]));
    for (size_t j = i; j < end; ++j) weights.release(*nodes_[j].w[0]);
    i = end - 1;
  }
  // Decode prefetches the start of the next product's weights while finishing the current one.
  const kernels::PackedMatrix* next = nullptr;
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
    if (!it->packed) continue;
    it->next_packed = next;
    next = it->packed.get();
  }
}

// Greedy first-fit over live ranges: a tensor lives from its producing node to its last reader
// in this segment, or to the end if it leaves the segment.
void SegmentExecutor::plan_scratch() {
  struct Live {
    int t, first, last;
    int64_t width;
  };
  std::vector<Live> lives;
  for (int n = begin_; n < end_; ++n) {
    const int t = g_.nodes[n].output;
    int last = n;
    for (int m = n + 1; m < end_; ++m) {
      for (int in : g_.nodes[m].inputs) {
        if (in == t) last = m;
      }
    }
    if (std::find(outputs_.begin(), outputs_.end(), t) != outputs_.end()) last = end_;
    lives.push_back(Live{t, n, last, g_.tensors[t].width});
  }
  struct Placed {
    int64_t off, width;
    int first, last;
  };
  std::vector<Placed> placed;
  for (const Live& l : lives) {
    // Candidate offsets: 0 and the end of every placed block; take the lowest that fits.
    std::vector<int64_t> cands{0};
    for (const Placed& p : placed) cands.push_back(p.off + p.width);
    std::sort(cands.begin(), cands.end());
    for (int64_t off : cands) {
      bool clash = false;
      for (const Placed& p : placed) {
        const bool overlap_time = !(p.last < l.first || l.last < p.first);
        const bool overlap_mem = off < p.off + p.width && p.off < off + l.width;
        // An op may read its input while writing its output, so lives touching at a node clash.
        if (overlap_time && overlap_mem) clash = true;
      }
      if (!clash) {
        placed.push_back(Placed{off, l.width, l.first, l.last});
        offset_per_row_[l.t] = off;
        scratch_per_row_ = std::max(scratch_per_row_, off + l.width);
        break;
      }
    }
  }
}

float* SegmentExecutor::tensor_ptr(int t, int n_rows, const TensorStore& in) {
  auto it = offset_per_row_.find(t);
  if (it != offset_per_row_.end()) return arena_.data() + it->second * n_rows;
  auto in_it = in.find(t);
  return in_it == in.end() ? nullptr : const_cast<float*>(in_it->second.data());
}

Status SegmentExecutor::run(const Batch& batch, const TensorStore& in, TensorStore* out,
                            KvCache* kv, ThreadPool* pool) {
  const int rows = batch.n_rows();
  if (rows == 0) return invalid_argument("empty batch");
  if (batch.pos.size() != batch.tokens.size() || batch.seq.size() != batch.tokens.size() ||
      batch.want_logits.size() != batch.tokens.size()) {
    return invalid_argument("batch arrays differ in length");
  }
  for (int t : inputs_) {
    if (t == g_.tokens) continue;
    auto it = in.find(t);
    const int n = g_.tensors[t].selected ? batch.n_out() : rows;
    if (it == in.end())
      return invalid_argument("segment input '" + g_.tensors[t].name + "' is missing");
    if (static_cast<int64_t>(it->second.size()) != n * g_.tensors[t].width) {
      return invalid_argument("segment input '" + g_.tensors[t].name + "' has " +
                              std::to_string(it->second.size()) + " floats, expected " +
                              std::to_string(n * g_.tensors[t].width));
    }
  }
  const size_t need = static_cast<size_t>(scratch_per_row_) * rows;
  if (arena_.size() < need) arena_.resize(need);
  for (const BoundNode& bn : nodes_) LL_RETURN_IF_ERROR(run_node(bn, batch, in, kv, pool));
  for (int t : outputs_) {
    const int n = g_.tensors[t].selected ? batch.n_out() : rows;
    const float* p = tensor_ptr(t, rows, in);
    (*out)[t].assign(p, p + static_cast<size_t>(n) * g_.tensors[t].width);
  }
  return Status::ok();
}

Status SegmentExecutor::run_node(const BoundNode& bn, const Batch& batch, const TensorStore& in,
                                 KvCache* kv, ThreadPool* pool) {
  const Node& node = *bn.node;
  const int rows = batch.n_rows();
  const int out_rows = g_.tensors[node.output].selected ? batch.n_out() : rows;
  float* y = tensor_ptr(node.output, rows, in);  // [out_rows][out_w]
  const int64_t out_w = g_.tensors[node.output].width;
  if (out_rows == 0) return Status::ok();  // a prefill chunk that wants no logits
  auto input = [&](int i) { return tensor_ptr(node.inputs[i], rows, in); };
  const int64_t in_w = node.inputs.empty() ? 0 : g_.tensors[node.inputs[0]].width;

  switch (node.op) {
    case OpType::kEmbed: {
      const WeightView* w = bn.w[0];
      const size_t row_b = row_bytes(w->type, out_w);
      for (int r = 0; r < rows; ++r) {
        const int32_t tok = batch.tokens[r];
        if (tok < 0 || tok >= w->rows()) {
          return invalid_argument("token id " + std::to_string(tok) +
                                  " is outside the vocabulary (0.." +
                                  std::to_string(w->rows() - 1) + ")");
        }
        kernels::dequantize_row(w->type, static_cast<const uint8_t*>(w->data) + row_b * tok,
                                y + r * out_w, out_w);
      }
      break;
    }
    case OpType::kAddPosEmbd: {
      const WeightView* w = bn.w[0];
      const size_t row_b = row_bytes(w->type, out_w);
      const float* x = input(0);
      std::vector<float> row(out_w);
      for (int r = 0; r < rows; ++r) {
        if (batch.pos[r] >= w->rows())
          return invalid_argument("position " + std::to_string(batch.pos[r]) +
                                  " exceeds the model's learned positions");
        kernels::dequantize_row(w->type,
                                static_cast<const uint8_t*>(w->data) + row_b * batch.pos[r],
                                row.data(), out_w);
        for (int64_t i = 0; i < out_w; ++i) y[r * out_w + i] = x[r * out_w + i] + row[i];
      }
      break;
    }
    case OpType::kRmsNorm: {
      const float* x = input(0);
      for (int r = 0; r < out_rows; ++r) {
        kernels::rms_norm(x + r * in_w, bn.w_f32[0].data(), y + r * out_w, out_w, node.params.eps);
      }
      break;
    }
    case OpType::kLayerNorm: {
      const float* x = input(0);
      const float* b = bn.w_f32.size() > 1 ? bn.w_f32[1].data() : nullptr;
      for (int r = 0; r < out_rows; ++r) {
        kernels::layer_norm(x + r * in_w, bn.w_f32[0].data(), b, y + r * out_w, out_w,
                            node.params.eps);
      }
      break;
    }
    case OpType::kMatmul: {
      const WeightView* w = bn.w[0];
      const float* x = input(0);
      if (bn.fused_leader >= 0) {
        const BoundNode& lead = nodes_[bn.fused_leader];
        const int64_t fused_w = lead.packed->n_rows();
        if (&lead == &bn) {
          fused_out_.resize(static_cast<size_t>(out_rows) * fused_w);
          lead.packed->matmul(x, out_rows, fused_out_.data(), pool, kernels::Isa::kBest,
                              lead.next_packed);
        }
        for (int r = 0; r < out_rows; ++r) {
          std::memcpy(y + r * out_w, fused_out_.data() + r * fused_w + bn.fused_offset,
                      sizeof(float) * out_w);
        }
      } else if (bn.packed) {
        bn.packed->matmul(x, out_rows, y, pool, kernels::Isa::kBest, bn.next_packed);
      } else if (out_rows == 1) {
        kernels::matvec(w->type, w->data, out_w, in_w, x, y, pool);
      } else {
        kernels::matmul(w->type, w->data, out_w, in_w, x, out_rows, y, pool);
      }
      if (!bn.w_f32.empty()) {
        const float* bias = bn.w_f32[0].data();
        for (int r = 0; r < out_rows; ++r) {
          for (int64_t i = 0; i < out_w; ++i) y[r * out_w + i] += bias[i];
        }
      }
      break;
    }
    case OpType::kRope: {
      const float* x = input(0);
      if (x != y) std::memcpy(y, x, sizeof(float) * rows * out_w);
      const OpParams& p = node.params;
      for (int r = 0; r < rows; ++r) {
        kernels::rope_inplace(y + r * out_w, p.n_head, p.head_dim, p.n_rot, batch.pos[r],
                              p.freq_base, to_kernel(p.rope_style));
      }
      break;
    }
    case OpType::kAttention: {
      if (!kv || !kv->has_layer(node.layer))
        return internal_error("no KV cache for layer " + std::to_string(node.layer));
      const float* q = input(0);
      const float* k = tensor_ptr(node.inputs[1], rows, in);
      const float* v = tensor_ptr(node.inputs[2], rows, in);
      const int64_t kv_w = g_.tensors[node.inputs[1]].width;
      std::vector<int> slots(rows);
      for (int r = 0; r < rows; ++r) {
        LL_ASSIGN_OR_RETURN(slots[r], kv->slot(batch.seq[r]));
        if (batch.pos[r] < 0 || batch.pos[r] >= kv->n_ctx()) {
          return invalid_argument("position " + std::to_string(batch.pos[r]) +
                                  " is beyond the context of " + std::to_string(kv->n_ctx()) +
                                  " tokens");
        }
        std::memcpy(kv->k(node.layer, slots[r]) + batch.pos[r] * kv_w, k + r * kv_w,
                    sizeof(float) * kv_w);
        std::memcpy(kv->v(node.layer, slots[r]) + batch.pos[r] * kv_w, v + r * kv_w,
                    sizeof(float) * kv_w);
      }
      const OpParams& p = node.params;
      auto one = [&](int64_t r, int) {
        kernels::attention(q + r * in_w, kv->k(node.layer, slots[r]), kv->v(node.layer, slots[r]),
                           batch.pos[r] + 1, p.n_head, p.n_head_kv, p.head_dim, p.attn_scale,
                           y + r * out_w, nullptr);
      };
      if (pool && rows > 1) {
        pool->parallel_for(rows, one);
      } else if (pool && rows == 1 &&
                 static_cast<int64_t>(batch.pos[0] + 1) * p.n_head * p.head_dim >= (1 << 15)) {
        // One query (decode): split its heads instead, so no thread idles through it.
        const float* kc = kv->k(node.layer, slots[0]);
        const float* vc = kv->v(node.layer, slots[0]);
        pool->parallel_range(p.n_head, [&](int64_t h0, int64_t h1, int) {
          kernels::attention_heads(q, kc, vc, batch.pos[0] + 1, p.n_head, p.n_head_kv, p.head_dim,
                                   p.attn_scale, y, nullptr, static_cast<int>(h0),
                                   static_cast<int>(h1));
        });
      } else {
        for (int r = 0; r < rows; ++r) one(r, 0);
      }
      break;
    }
    case OpType::kAdd: {
      const float* a = input(0);
      const float* b = input(1);
      const int64_t n = static_cast<int64_t>(out_rows) * out_w;
      kernels::add(a, b, y, n);
      break;
    }
    case OpType::kSwiGlu: {
      const float* gate = input(0);
      const float* up = input(1);
      const int64_t n = static_cast<int64_t>(out_rows) * out_w;
      kernels::silu(gate, y, n);
      kernels::mul(y, up, y, n);
      break;
    }
    case OpType::kGelu: {
      const float* x = input(0);
      kernels::gelu(x, y, static_cast<int64_t>(out_rows) * out_w);
      break;
    }
    case OpType::kSelectRows: {
      const float* x = input(0);
      int o = 0;
      for (int r = 0; r < rows; ++r) {
        if (batch.want_logits[r])
          std::memcpy(y + (o++) * out_w, x + r * in_w, sizeof(float) * out_w);
      }
      break;
    }
  }
  return Status::ok();
}

}  // namespace ll::graph
