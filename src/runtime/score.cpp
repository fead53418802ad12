#include "runtime/score.h"

#include <string>

namespace ll::runtime {

namespace {

Result<std::vector<double>> score_chunk(Ring& ring, const std::vector<int32_t>& chunk, int first,
                                        double timeout_s) {
  if (static_cast<int>(chunk.size()) > ring.n_ctx()) {
    return invalid_argument("perplexity: a chunk of " + std::to_string(chunk.size()) +
                            " tokens exceeds the ring's context of " +
                            std::to_string(ring.n_ctx()));
  }
  const int32_t seq = ring.new_sequence_id();  // a fresh sequence: an empty context
  model::SamplerParams p;
  p.score = true;
  LL_RETURN_IF_ERROR(ring.start_sequence(seq, p, {}));
  Status st = ring.submit(0, model::scoring_batch(chunk, first, seq));
  std::vector<double> lp;
  if (st.is_ok()) {
    auto ev = ring.next_token(timeout_s);
    if (!ev.is_ok()) {
      st = ev.status();
    } else if (ev->seq != seq || ev->token != -1) {
      st = internal_error("perplexity: the ring answered sequence " + std::to_string(ev->seq) +
                          " with a token while scoring sequence " + std::to_string(seq));
    } else {
      lp = std::move(ev->log_probs);
    }
  }
  Status end = ring.end_sequence(seq);
  LL_RETURN_IF_ERROR(st);
  LL_RETURN_IF_ERROR(end);
  return lp;
}

}  // namespace

model::ChunkScorer ring_scorer(Ring& ring, double timeout_s) {
  return [&ring, timeout_s](const std::vector<int32_t>& chunk, int first) {
    return score_chunk(ring, chunk, first, timeout_s);
  };
}

}  // namespace ll::runtime
