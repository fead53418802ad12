#include "graph/segment.h"

#include <algorithm>
#include <map>
#include <set>

namespace ll::graph {

int Segmentation::segment_of(int node) const {
  auto it = std::upper_bound(starts.begin(), starts.end(), node);
  return static_cast<int>(it - starts.begin()) - 1;
}

Result<Segmentation> segment_at(const Graph& g, std::vector<int> cuts) {
  Segmentation s;
  s.n_nodes = static_cast<int>(g.nodes.size());
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  s.starts.push_back(0);
  for (int c : cuts) {
    if (c <= 0 || c >= s.n_nodes) {
      return invalid_argument("cut " + std::to_string(c) +
                              " is outside the graph's op boundaries (1.." +
                              std::to_string(s.n_nodes - 1) + ")");
    }
    s.starts.push_back(c);
  }
  return s;
}

Result<Segmentation> segment_default(const Graph& g, int n) {
  const std::vector<int>& cand = g.default_cuts;
  if (n <= 0) return segment_at(g, cand);
  if (n > static_cast<int>(cand.size()) + 1) {
    return invalid_argument("cannot make " + std::to_string(n) + " segments: the graph has only " +
                            std::to_string(cand.size() + 1) + " default segments");
  }
  // Pick the candidate nearest to each equal share of nodes.
  std::vector<int> cuts;
  const double per = static_cast<double>(g.nodes.size()) / n;
  size_t next = 0;
  for (int i = 1; i < n; ++i) {
    const double target = per * i;
    size_t best = next;
    for (size_t c = next; c < cand.size(); ++c) {
      if (std::abs(cand[c] - target) < std::abs(cand[best] - target)) best = c;
    }
    // Leave enough candidates for the remaining cuts.
    best = std::min(best, cand.size() - (n - i));
    cuts.push_back(cand[best]);
    next = best + 1;
  }
  return segment_at(g, cuts);
}

TransmissionMap build_map(const Graph& g, const Segmentation& s) {
  TransmissionMap m;
  m.inputs.resize(s.size());
  m.outputs.resize(s.size());
  std::map<int, std::set<int>> readers;  // tensor -> consuming segments
  for (int n = 0; n < static_cast<int>(g.nodes.size()); ++n) {
    const int seg = s.segment_of(n);
    for (int t : g.nodes[n].inputs) {
      const int prod = g.tensors[t].producer;
      const int prod_seg = prod < 0 ? -1 : s.segment_of(prod);
      if (prod_seg != seg) readers[t].insert(seg);
    }
  }
  // The logits leave the graph for the sampler.
  readers[g.logits].insert(-1);
  for (auto& [t, segs] : readers) {
    const int prod = g.tensors[t].producer;
    MapEdge e;
    e.tensor = t;
    e.producer = prod < 0 ? -1 : s.segment_of(prod);
    for (int c : segs) {
      if (c >= 0) e.consumers.push_back(c);
    }
    if (segs.count(-1)) e.consumers.push_back(-1);
    for (int c : e.consumers) {
      if (c >= 0) m.inputs[c].push_back(t);
    }
    if (e.producer >= 0) m.outputs[e.producer].push_back(t);
    m.edges.push_back(std::move(e));
  }
  return m;
}

}  // namespace ll::graph
