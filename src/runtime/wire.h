// Runtime messages on top of net::Message. A forward pass travels as a STEP whose tensors are
// "__batch" (I32 [4][n_rows]: tokens, positions, sequence ids, want-logits flags) plus the
// activation tensors named as in the graph (F32 [rows][width]). A STEP carrying "__sampling"
// (I64 [8]) and "__history" (I32) starts a sequence on the tail (docs/protocol.md).
#pragma once

#include <utility>
#include <vector>

#include "graph/batch.h"
#include "graph/graph.h"
#include "model/sampler.h"
#include "net/message.h"

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

net::Message make_seq_start(int32_t seq, const model::SamplerParams& p,
                            const std::vector<int32_t>& history);
bool is_seq_start(const net::Message& m);
Result<std::pair<model::SamplerParams, std::vector<int32_t>>> read_seq_start(const net::Message& m);

// SCORE: a scoring sequence's log-probabilities, tail to head, as a STEP body holding one
// "__scores" tensor (F64 [n]); SamplerParams::score travels in __sampling[7].
net::Message make_scores(int32_t seq, uint32_t step, std::vector<double> log_probs);
bool is_scores(const net::Message& m);
Result<std::vector<double>> read_scores(const net::Message& m);

}  // namespace ll::runtime
