// Executes one segment of a graph: reads its input tensors (as the map says), runs its ops
// with scratch memory planned for this segment alone, updates its layers' KV cache, and
// returns its output tensors. The whole graph as one segment is the single-device engine.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "graph/batch.h"
#include "graph/kv_cache.h"
#include "graph/op_table.h"
#include "graph/segment.h"
#include "graph/weights.h"
#include "kernels/packed.h"

namespace ll::graph {

// Activations by tensor id, each [rows][width] row-major.
using TensorStore = std::map<int, std::vector<float>>;

class SegmentExecutor {
 public:
  static Result<std::unique_ptr<SegmentExecutor>> create(const Graph& g, const Segmentation& s,
                                                         int segment, const WeightSource& weights);

  // in must hold every tensor of inputs(); out receives every tensor of outputs().
  Status run(const Batch& batch, const TensorStore& in, TensorStore* out, KvCache* kv,
             ThreadPool* pool);

  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }
  // Transformer blocks whose attention runs here (their KV cache lives on this device).
  const std::vector<int>& attention_layers() const { return attn_layers_; }
  // Planned scratch floats per batch row (the arena is this times the batch rows).
  int64_t scratch_floats_per_row() const { return scratch_per_row_; }
  bool reads_tokens() const { return reads_tokens_; }

 private:
  void pack_weights(const WeightSource& weights);
  SegmentExecutor(const Graph& g) : g_(g) {}
  Status bind(const Segmentation& s, int segment, const WeightSource& weights);
  void plan_scratch();
  float* tensor_ptr(int t, int n_rows, const TensorStore& in);
  Status run_node(const BoundNode& bn, const Batch& batch, const TensorStore& in, KvCache* kv,
                  ThreadPool* pool);

  const Graph& g_;
  int begin_ = 0, end_ = 0;
  std::vector<BoundNode> nodes_;
  std::vector<int> inputs_, outputs_, attn_layers_;
  bool reads_tokens_ = false;
  std::map<int, int64_t> offset_per_row_;  // scratch offset of each tensor produced here
  int64_t scratch_per_row_ = 0;
  std::vector<float> arena_;
  std::vector<float> fused_out_;  // [rows][packed->n_rows()] of the running fused product
  std::vector<int> out_rows_;     // per batch: rows of selected tensors
};

}  // namespace ll::graph
