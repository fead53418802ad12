#include "runtime/score.h"

#include <string>

namespace ll::runtime {

namespace {

Result<std::vector<double>> take_scores(Ring& ring, int32_t seq, double timeout_s) {
  LL_ASSIGN_OR_RETURN(TokenEvent ev, ring.next_token(timeout_s));
  if (ev.seq != seq || !ev.scored) {
    return internal_error("perplexity: the ring answered sequence " + std::to_string(ev.seq) +
                          (ev.scored ? " with scores" : " with a token") +
                          " while scoring sequence " + std::to_string(seq));
  }
  return std::move(ev.log_probs);
}

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
  const Status st = ring.submit(ring.new_pass(), model::scoring_batch(chunk, first, seq));
  Result<std::vector<double>> lp =
      st.is_ok() ? take_scores(ring, seq, timeout_s) : Result<std::vector<double>>(st);
  Status end = ring.end_sequence(seq);
  if (lp.is_ok() && !end.is_ok()) return end;
  return lp;
}

}  // namespace

model::ChunkScorer ring_scorer(Ring& ring, double timeout_s) {
  return [&ring, timeout_s](const std::vector<int32_t>& chunk, int first) {
    return score_chunk(ring, chunk, first, timeout_s);
  };
}

}  // namespace ll::runtime
