#include "graph/executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernels.h"

namespace ll::graph {

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
    BoundNode bn;
    bn.node = &node;
    for (const std::string& name : node.weights) {
      const WeightView* w = weights.find(name);
      if (!w) return not_found("weight '" + name + "' for " + node.label + " is not loaded");
      bn.w.push_back(w);
    }
    const OpDef& op = op_def(node.op);
    LL_RETURN_IF_ERROR(op.bind(g_, &bn));
    if (op.uses_kv) attn_layers_.push_back(node.layer);
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
  if (out_rows == 0) return Status::ok();  // a prefill chunk that wants no logits
  OpRun r{g_,
          bn,
          bn.fused_leader >= 0 ? &nodes_[bn.fused_leader] : nullptr,
          &fused_out_,
          batch,
          rows,
          out_rows,
          {nullptr, nullptr, nullptr},
          node.inputs.empty() ? 0 : g_.tensors[node.inputs[0]].width,
          tensor_ptr(node.output, rows, in),
          g_.tensors[node.output].width,
          kv,
          pool};
  for (size_t i = 0; i < node.inputs.size() && i < 3; ++i)
    r.in[i] = tensor_ptr(node.inputs[i], rows, in);
  return op_def(node.op).run(r);
}

}  // namespace ll::graph
