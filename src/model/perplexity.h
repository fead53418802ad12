// Perplexity over a tokenized text, computed as llama.cpp's llama-perplexity does: the text is
// cut into non-overlapping chunks of n_ctx tokens, the first token of every chunk is replaced by
// BOS (when the vocabulary adds one), each chunk is evaluated from an empty context, and only the
// second half of each chunk is scored, so every scored token sees at least n_ctx/2 tokens.
// The forward pass is behind ChunkScorer, so one device and a ring give the same figure: both
// score with row_log_probs() over bit-identical logits.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/batch.h"
#include "model/engine.h"

namespace ll::model {

struct PerplexityOptions {
  int n_ctx = 256;      // tokens per chunk
  int n_chunks = 0;     // 0: every whole chunk of the text
  int32_t bos_id = -1;  // < 0: chunks keep their first token
};

struct PerplexityResult {
  double ppl = 0;
  double ppl_stderr = 0;  // standard error of the estimate (delta method, as llama-perplexity)
  int chunks = 0;
  int n_ctx = 0;
  int64_t tokens_scored = 0;
  std::vector<double> ppl_per_chunk;  // the running estimate after each chunk
};

// The batch that scores a chunk: its tokens at positions 0.., logits wanted on rows
// first..n-2 (row r predicts chunk[r + 1]).
graph::Batch scoring_batch(const std::vector<int32_t>& chunk, int first, int32_t seq);

// log p(target) under the softmax of one logits row, accumulated in double.
double token_log_prob(const float* logits, int n_vocab, int32_t target);

// The target of batch row `row` when scoring: the same sequence's token at the next position,
// which must be the batch's next row; otherwise an error names the row.
Result<int32_t> scoring_target(const graph::Batch& b, int row, int n_vocab);

// Log-probabilities of each logits row's next token in the batch. logits: [n_out][n_vocab], one
// row per batch row that wants logits; every such row must be followed by the same sequence's
// next position (the target), else an error names the row.
Result<std::vector<double>> row_log_probs(const graph::Batch& b, const float* logits, int n_vocab);

// Evaluates one chunk from an empty context and returns the log-probabilities of
// chunk[first + 1 .. n - 1] (n - 1 - first values).
using ChunkScorer =
    std::function<Result<std::vector<double>>(const std::vector<int32_t>& chunk, int first)>;

// progress(chunk_index, n_chunks, running_ppl) after every chunk.
using PerplexityProgress = std::function<void(int, int, double)>;

// The errors perplexity() gives before any chunk is scored (no tokens, fewer than one chunk).
Status check_perplexity_input(const std::vector<int32_t>& tokens, const PerplexityOptions& o);

Result<PerplexityResult> perplexity(const std::vector<int32_t>& tokens, const PerplexityOptions& o,
                                    const ChunkScorer& score,
                                    const PerplexityProgress& progress = nullptr);

// The text to score: the whole file; a missing, unreadable or empty file is an error naming it.
Result<std::string> read_text_file(const std::string& path);

// Scores chunks on a single-device engine (its context must hold n_ctx tokens).
ChunkScorer engine_scorer(Engine& e);

}  // namespace ll::model
