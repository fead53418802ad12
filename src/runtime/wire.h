// Runtime messages on top of net::Message. A forward pass travels as a STEP whose tensors are
// "__batch" (I32 [4][n_rows]: tokens, positions, sequence ids, want-logits flags) plus the
// activation tensors named as in the graph (F32 [rows][width]). Sequences start with a
// SEQ_START and end with a SEQ_END (docs/protocol.md).
#pragma once

#include <utility>
#include <vector>

#include "graph/batch.h"
#include "graph/graph.h"
#include "graph/kv_cache.h"
#include "model/sampler.h"
#include "net/message.h"
#include "runtime/device_node.h"
#include "runtime/sequence_table.h"

namespace ll::runtime {

using TensorList = std::vector<std::pair<int, std::vector<float>>>;

net::Message make_step(uint32_t step, const graph::Graph& g, const graph::Batch& b,
                       TensorList tensors);

struct DecodedStep {
  graph::Batch batch;
  TensorList tensors;
};
// Validates names, dtypes and shapes against the graph; errors name the tensor.
Result<DecodedStep> read_step(const net::Message& m, const graph::Graph& g);

// What device `device` needs to start the table's sequence.
SeqStartInfo seq_start_info(const SeqRecord& rec, int device);
net::Message make_seq_start(const SeqStartInfo& s);
// The sequence id comes from the header; the message must be a SEQ_START.
SeqStartInfo read_seq_start(const net::Message& m);
net::Message make_seq_end(int32_t seq);

// SCORES: a scoring sequence's pass (SamplerParams::score, flag kFlagScore on its SEQ_START),
// tail to head: a STEP (header seq_id, step) whose only tensor is "__scores" (F64 [n]), the
// log-probability of each logits row's next token in batch order. The head receives no other
// STEP, so its receive path tells them apart by type alone.
net::Message make_scores(int32_t seq, uint32_t step, std::vector<double> log_probs);
bool is_scores(const net::Message& m);
Result<std::vector<double>> read_scores(const net::Message& m);

// KV_ROWS (docs/protocol.md): one sequence's cached K and V of some layers.
net::Message make_kv_rows(int32_t seq, int kv_slot, graph::KvRows rows);
struct DecodedKvRows {
  int32_t seq = 0;
  int kv_slot = -1;
  graph::KvRows rows;
};
Result<DecodedKvRows> read_kv_rows(const net::Message& m);

}  // namespace ll::runtime
