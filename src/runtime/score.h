// Perplexity over any ring: each chunk is one scoring sequence (SamplerParams::score) evaluated
// in one forward pass, and the tail returns the log-probabilities it computed from the logits,
// with the same function as the single-device engine, so the figure is the same bit for bit.
#pragma once

#include "model/perplexity.h"
#include "runtime/ring.h"

namespace ll::runtime {

// The ring's context must hold a chunk; timeout_s bounds the wait for one chunk's scores.
model::ChunkScorer ring_scorer(Ring& ring, double timeout_s = 600.0);

}  // namespace ll::runtime
