// Per-segment costs for the planner: FLOPs, weight bytes by type, KV bytes, edge bytes and
// scratch. All figures are per token (one batch row) unless named otherwise.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "graph/segment.h"
#include "graph/weights.h"

namespace ll::graph {

struct EdgeCost {
  int tensor = -1;
  int from = -1;  // producer segment (-1: head input)
  int to = -1;    // consumer segment (-1: sampler)
  EdgeKind kind = EdgeKind::kSequential;
  int64_t bytes_per_token = 0;  // f32 activations: width * 4
};

struct SegmentCost {
  std::string first_label, last_label;
  int first_layer = -1, last_layer = -1;  // blocks touched (-1 = outside blocks)
  double matmul_flops = 0;                // per token: 2 * rows * cols per matmul
  double other_flops = 0;                 // per token: norms, rope, elementwise, softmax
  double attn_flops_per_ctx =
      0;  // per token per position of context: 4 * n_head * head_dim per layer
  std::map<DType, double> weight_bytes_streamed;  // per decode token (an embedding reads one row)
  std::map<DType, double> weight_bytes_resident;  // held in memory
  double kv_bytes_per_token = 0;                  // per position of context per sequence
  double scratch_bytes_per_row = 0;

  double weight_bytes_total() const;
  double flops_decode(int ctx) const {
    return matmul_flops + other_flops + attn_flops_per_ctx * ctx;
  }
};

struct GraphCosts {
  std::vector<SegmentCost> segments;
  std::vector<EdgeCost> edges;  // one per (tensor, consumer) pair, sampler edge excluded
};

// Weight shapes and types come from `weights`; scratch from each segment's planned arena.
Result<GraphCosts> compute_costs(const Graph& g, const Segmentation& s,
                                 const WeightSource& weights);

}  // namespace ll::graph
