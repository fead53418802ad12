// Perplexity over any ring: each chunk is one scoring sequence (SamplerParams::score) evaluated
// in one forward pass, and the tail returns the log-probabilities it computed from the logits
// with the function the single-device engine uses (model::row_log_probs' token_log_prob), so
// the figure is the same bit for bit (docs/perplexity.md).
#pragma once

#include "model/perplexity.h"
#include "runtime/ring.h"

namespace ll::runtime {

// The ring's context must hold a chunk; timeout_s bounds the wait for one chunk's scores.
model::ChunkScorer ring_scorer(Ring& ring, double timeout_s = 600.0);

}  // namespace ll::runtime
