#include "runtime/plan_bridge.h"

#include <set>

namespace ll::runtime {

plan::ModelProfile model_profile(const std::string& name, const graph::Graph& g,
                                 const graph::Segmentation& fine, const graph::GraphCosts& costs,
                                 const graph::WeightSource& weights, int ctx_for_attention) {
  plan::ModelProfile m;
  m.name = name;
  m.n_layer = g.hp.n_layer;
  for (int i = 0; i < fine.size(); ++i) {
    const graph::SegmentCost& c = costs.segments[i];
    plan::Segment s;
    s.label = c.first_label == c.last_label ? c.first_label : c.first_label + ".." + c.last_label;
    s.layer_first = c.first_layer < 0 ? (i == 0 ? 0 : g.hp.n_layer - 1) : c.first_layer;
    s.layer_last = c.last_layer < 0 ? s.layer_first : c.last_layer;
    // Decode attention is charged by the KV bytes it reads at the run's position
    // (plan/cost.cpp); the FLOP figures count it at a typical position (half the context).
    const double attn = c.attn_flops_per_ctx * ctx_for_attention / 2.0;
    s.flops_other = c.other_flops;
    s.flops_decode = c.matmul_flops + s.flops_other + attn;
    s.flops_prefill_per_token = s.flops_decode;
    s.weight_bytes_by_type = c.weight_bytes_streamed;
    s.weight_bytes_resident = c.weight_bytes_total();
    s.kv_bytes_per_token = c.kv_bytes_per_token;
    s.scratch_bytes = c.scratch_bytes_per_row;
    m.segments.push_back(std::move(s));
  }
  // Parameters: elements of every distinct weight (a tied embedding counts once).
  std::set<std::string> seen;
  for (const graph::Node& node : g.nodes) {
    for (const std::string& w : node.weights) {
      const graph::WeightView* v = weights.find(w);
      if (!v || !seen.insert(w).second) continue;
      double n = 1;
      for (int64_t d : v->ne) n *= static_cast<double>(d);
      m.n_params += n;
    }
  }
  for (const graph::EdgeCost& e : costs.edges) {
    if (e.from < 0 || e.to < 0) continue;
    plan::SegmentEdge edge;
    edge.to = e.to;
    edge.bytes_per_token = static_cast<double>(e.bytes_per_token);
    m.segments[e.from].edges.push_back(edge);
  }
  return m;
}

Result<DevicePlacement> placement_from_plan(const graph::Graph& g, const graph::Segmentation& fine,
                                            const std::vector<int>& device_of_segment) {
  if (static_cast<int>(device_of_segment.size()) != fine.size()) {
    return invalid_argument("plan has " + std::to_string(device_of_segment.size()) +
                            " segments, the graph " + std::to_string(fine.size()));
  }
  DevicePlacement p;
  std::vector<int> cuts;
  for (int s = 0; s < fine.size(); ++s) {
    const int d = device_of_segment[s];
    if (s == 0 || d != device_of_segment[s - 1]) {
      for (int seen : p.devices) {
        if (seen == d)
          return invalid_argument("plan gives device " + std::to_string(d) +
                                  " two separate runs of segments");
      }
      p.devices.push_back(d);
      if (s > 0) cuts.push_back(fine.begin(s));
    }
  }
  LL_ASSIGN_OR_RETURN(p.coarse, graph::segment_at(g, cuts));
  return p;
}

}  // namespace ll::runtime
