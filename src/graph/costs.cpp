#include "graph/costs.h"

#include <set>

#include "graph/executor.h"

namespace ll::graph {

double SegmentCost::weight_bytes_total() const {
  double t = 0;
  for (auto& [type, b] : weight_bytes_resident) t += b;
  return t;
}

Result<GraphCosts> compute_costs(const Graph& g, const Segmentation& s,
                                 const WeightSource& weights) {
  GraphCosts out;
  const HParams& hp = g.hp;
  for (int seg = 0; seg < s.size(); ++seg) {
    SegmentCost c;
    std::set<std::string> resident;
    for (int n = s.begin(seg); n < s.end(seg); ++n) {
      const Node& node = g.nodes[n];
      if (n == s.begin(seg)) {
        c.first_label = node.label;
        c.first_layer = node.layer;
      }
      c.last_label = node.label;
      c.last_layer = node.layer;
      const int64_t out_w = g.tensors[node.output].width;
      const int64_t in_w = node.inputs.empty() ? 0 : g.tensors[node.inputs[0]].width;
      for (size_t i = 0; i < node.weights.size(); ++i) {
        const WeightView* w = weights.find(node.weights[i]);
        if (!w) return not_found("weight '" + node.weights[i] + "' is missing");
        if (resident.insert(node.weights[i]).second) c.weight_bytes_resident[w->type] += w->n_bytes;
        const bool row_lookup = node.op == OpType::kEmbed || node.op == OpType::kAddPosEmbd;
        c.weight_bytes_streamed[w->type] +=
            row_lookup ? static_cast<double>(w->n_bytes) / w->rows() : w->n_bytes;
      }
      switch (node.op) {
        case OpType::kMatmul:
          c.matmul_flops += 2.0 * in_w * out_w + (node.weights.size() > 1 ? out_w : 0);
          break;
        case OpType::kRmsNorm:
          c.other_flops += 4.0 * out_w;
          break;
        case OpType::kLayerNorm:
          c.other_flops += 7.0 * out_w;
          break;
        case OpType::kRope:
          c.other_flops += 3.0 * node.params.n_head * node.params.n_rot;
          break;
        case OpType::kAttention:
          c.attn_flops_per_ctx += 4.0 * node.params.n_head * node.params.head_dim;
          c.kv_bytes_per_token += 2.0 * hp.n_embd_kv() * sizeof(float);
          break;
        case OpType::kAdd:
          c.other_flops += out_w;
          break;
        case OpType::kSwiGlu:
          c.other_flops += 6.0 * out_w;
          break;
        case OpType::kGelu:
          c.other_flops += 10.0 * out_w;
          break;
        case OpType::kAddPosEmbd:
          c.other_flops += out_w;
          break;
        case OpType::kEmbed:
        case OpType::kSelectRows:
          break;
      }
    }
    LL_ASSIGN_OR_RETURN(auto ex, SegmentExecutor::create(g, s, seg, weights));
    c.scratch_bytes_per_row = static_cast<double>(ex->scratch_floats_per_row()) * sizeof(float);
    out.segments.push_back(std::move(c));
  }
  const TransmissionMap map = build_map(g, s);
  for (const MapEdge& e : map.edges) {
    for (int to : e.consumers) {
      if (to < 0) continue;
      EdgeCost ec;
      ec.tensor = e.tensor;
      ec.from = e.producer;
      ec.to = to;
      ec.kind = TransmissionMap::kind(e.producer, to);
      // Token ids travel as int32; activations as f32 rows.
      ec.bytes_per_token = e.tensor == g.tokens ? 4 : g.tensors[e.tensor].width * 4;
      out.edges.push_back(ec);
    }
  }
  return out;
}

}  // namespace ll::graph
