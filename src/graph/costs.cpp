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
      for (size_t i = 0; i < node.weights.size(); ++i) {
        const WeightView* w = weights.find(node.weights[i]);
        if (!w) return not_found("weight '" + node.weights[i] + "' is missing");
        if (resident.insert(node.weights[i]).second) c.weight_bytes_resident[w->type] += w->n_bytes;
        const bool row_lookup = op_def(node.op).row_lookup;
        c.weight_bytes_streamed[w->type] +=
            row_lookup ? static_cast<double>(w->n_bytes) / w->rows() : w->n_bytes;
      }
      const OpCost oc = op_def(node.op).cost(g, node);
      c.matmul_flops += oc.matmul_flops;
      c.other_flops += oc.other_flops;
      c.attn_flops_per_ctx += oc.attn_flops_per_ctx;
      c.kv_bytes_per_token += oc.kv_bytes_per_token;
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
