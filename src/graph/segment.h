// Segments and the data transmission map. A segment is a contiguous range of nodes in the
// graph's fixed order; the map is derived from the graph, never written by hand.
#pragma once

#include <vector>

#include "graph/graph.h"

namespace ll::graph {

struct Segmentation {
  std::vector<int> starts;  // starts[0] == 0; segment i is [starts[i], end(i))
  int n_nodes = 0;

  int size() const { return static_cast<int>(starts.size()); }
  int begin(int i) const { return starts[i]; }
  int end(int i) const { return i + 1 < size() ? starts[i + 1] : n_nodes; }
  int segment_of(int node) const;
};

// cuts: node indices where a new segment starts (any op boundary, 0 < cut < n_nodes).
Result<Segmentation> segment_at(const Graph& g, std::vector<int> cuts);
// Cuts the graph at its default cut points into n segments of about equal node count
// (n = 0: every default cut).
Result<Segmentation> segment_default(const Graph& g, int n);

enum class EdgeKind { kSequential, kResidual };

// One tensor crossing segment boundaries. producer == -1: a graph input (token ids, sent by
// the head). A consumer of -1 means the graph output (the logits, read by the sampler).
struct MapEdge {
  int tensor = -1;
  int producer = -1;
  std::vector<int> consumers;  // ascending segment indices, all != producer
};

struct TransmissionMap {
  std::vector<MapEdge> edges;
  std::vector<std::vector<int>> inputs;   // per segment: tensors it reads from elsewhere
  std::vector<std::vector<int>> outputs;  // per segment: tensors it must send (or the logits)

  static EdgeKind kind(int producer, int consumer) {
    return consumer == producer + 1 ? EdgeKind::kSequential : EdgeKind::kResidual;
  }
};

TransmissionMap build_map(const Graph& g, const Segmentation& s);

}  // namespace ll::graph
