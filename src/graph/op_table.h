// The op table: an op's name, how a segment binds its weights, how it runs and what it costs,
// all in one entry, so an op is defined in one place (graph/op_table.cpp). The executor,
// costs and reports only look ops up here.
#pragma once

#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "graph/batch.h"
#include "graph/graph.h"
#include "graph/kv_cache.h"
#include "graph/weights.h"
#include "kernels/packed.h"

namespace ll::graph {

// A node bound to the weights of its segment.
struct BoundNode {
  const Node* node = nullptr;
  std::vector<const WeightView*> w;
  // Small per-node float data made at bind: 1-D weights (norm scales, biases), ALiBi slopes.
  std::vector<std::vector<float>> w_f32;
  // Quantized matmul weights in the kernels' packed layout, made once at bind; the source
  // mapping's pages are then no longer touched.
  // Consecutive matmuls reading the same input (Q, K, V; gate, up) share one packed matrix,
  // owned by the first: it computes all their rows into the executor's fused buffer, and each
  // member copies its columns [fused_offset, fused_offset + its width) when its turn comes.
  std::unique_ptr<kernels::PackedMatrix> packed;
  const kernels::PackedMatrix* next_packed = nullptr;  // the segment's next packed product
  int fused_leader = -1;  // index in the segment's nodes of the node owning this product, or -1
  int64_t fused_offset = 0;
};

// Everything one op needs to run on one batch.
struct OpRun {
  const Graph& g;
  const BoundNode& bn;
  const BoundNode* leader;        // the owner of bn's fused product (may be &bn), or null
  std::vector<float>* fused_out;  // [out_rows][leader->packed->n_rows()]
  const Batch& batch;
  int rows;            // batch rows
  int out_rows;        // output rows: the selected rows after kSelectRows
  const float* in[3];  // inputs, each [rows or out_rows][its width]
  int64_t in_w;        // width of input 0
  float* y;  // [out_rows][out_w]; never overlaps an input (the scratch plan keeps them apart)
  int64_t out_w;
  KvCache* kv;
  ThreadPool* pool;
};

// Per-token cost of one node.
struct OpCost {
  double matmul_flops = 0;
  double other_flops = 0;
  double attn_flops_per_ctx = 0;  // per position of context
  double kv_bytes_per_token = 0;  // per position of context per sequence
};

struct OpDef {
  const char* name;
  // Checks the node's weight shapes against its tensors and fills bn->w_f32.
  Status (*bind)(const Graph& g, BoundNode* bn);
  Status (*run)(const OpRun& r);
  OpCost (*cost)(const Graph& g, const Node& n);
  bool row_lookup;  // reads one weight row per token (embeddings), not whole matrices
  bool uses_kv;     // keeps a KV cache for its layer on the device that runs it
};

const OpDef& op_def(OpType op);

}  // namespace ll::graph
