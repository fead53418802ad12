#include "model/perplexity.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>

namespace ll::model {

graph::Batch scoring_batch(const std::vector<int32_t>& chunk, int first, int32_t seq) {
  graph::Batch b;
  const int n = static_cast<int>(chunk.size());
  for (int r = 0; r < n; ++r) b.add(chunk[r], r, seq, r >= first && r + 1 < n);
  return b;
}

double token_log_prob(const float* logits, int n_vocab, int32_t target) {
  float max_logit = logits[0];
  for (int i = 1; i < n_vocab; ++i) max_logit = std::max(max_logit, logits[i]);
  // In double throughout: a float difference would round each logit by up to half an ulp.
  const double m = max_logit;
  double sum_exp = 0;
  for (int i = 0; i < n_vocab; ++i) sum_exp += std::exp(static_cast<double>(logits[i]) - m);
  return (static_cast<double>(logits[target]) - m) - std::log(sum_exp);
}

Result<int32_t> scoring_target(const graph::Batch& b, int row, int n_vocab) {
  const int r = row;
  if (r + 1 >= b.n_rows() || b.seq[r + 1] != b.seq[r] || b.pos[r + 1] != b.pos[r] + 1) {
    return invalid_argument("scoring: batch row " + std::to_string(r) +
                            " wants logits but its sequence's next token is not in the batch");
  }
  const int32_t target = b.tokens[r + 1];
  if (target < 0 || target >= n_vocab) {
    return invalid_argument("scoring: token " + std::to_string(target) + " at row " +
                            std::to_string(r + 1) + " is outside the vocabulary of " +
                            std::to_string(n_vocab));
  }
  return target;
}

Result<std::vector<double>> row_log_probs(const graph::Batch& b, const float* logits, int n_vocab) {
  std::vector<double> out;
  for (int r = 0; r < b.n_rows(); ++r) {
    if (!b.want_logits[r]) continue;
    LL_ASSIGN_OR_RETURN(int32_t target, scoring_target(b, r, n_vocab));
    out.push_back(token_log_prob(logits + out.size() * n_vocab, n_vocab, target));
  }
  return out;
}

Status check_perplexity_input(const std::vector<int32_t>& tokens, const PerplexityOptions& o) {
  if (o.n_ctx < 4) return invalid_argument("perplexity: --ctx must be at least 4");
  if (o.n_chunks < 0) return invalid_argument("perplexity: --chunks must not be negative");
  if (tokens.empty()) return invalid_argument("perplexity: the text has no tokens");
  if (static_cast<int64_t>(tokens.size()) < o.n_ctx) {
    return invalid_argument("perplexity: the text has " + std::to_string(tokens.size()) +
                            " tokens, fewer than one chunk of --ctx " + std::to_string(o.n_ctx));
  }
  return Status::ok();
}

Result<PerplexityResult> perplexity(const std::vector<int32_t>& tokens, const PerplexityOptions& o,
                                    const ChunkScorer& score, const PerplexityProgress& progress) {
  LL_RETURN_IF_ERROR(check_perplexity_input(tokens, o));
  int n_chunks = static_cast<int>(tokens.size() / o.n_ctx);
  if (o.n_chunks > 0) n_chunks = std::min(n_chunks, o.n_chunks);
  const int first = o.n_ctx / 2;
  PerplexityResult r;
  r.n_ctx = o.n_ctx;
  double nll = 0, nll2 = 0;  // sums of -log p and (log p)^2 over the scored tokens
  for (int c = 0; c < n_chunks; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + static_cast<size_t>(c) * o.n_ctx,
                               tokens.begin() + static_cast<size_t>(c + 1) * o.n_ctx);
    if (o.bos_id >= 0) chunk[0] = o.bos_id;
    LL_ASSIGN_OR_RETURN(std::vector<double> lp, score(chunk, first));
    if (static_cast<int>(lp.size()) != o.n_ctx - 1 - first) {
      return internal_error("perplexity: chunk " + std::to_string(c) + " returned " +
                            std::to_string(lp.size()) + " log-probabilities, expected " +
                            std::to_string(o.n_ctx - 1 - first));
    }
    for (double v : lp) {
      nll -= v;
      nll2 += v * v;
    }
    r.tokens_scored += static_cast<int64_t>(lp.size());
    r.chunks = c + 1;
    r.ppl_per_chunk.push_back(std::exp(nll / r.tokens_scored));
    if (progress) progress(c, n_chunks, r.ppl_per_chunk.back());
  }
  const double n = static_cast<double>(r.tokens_scored);
  const double mean = nll / n;
  r.ppl = std::exp(mean);
  // Standard error of the mean NLL, carried to the perplexity by its derivative (ppl * se).
  const double var = nll2 / n - mean * mean;
  r.ppl_stderr = (var > 0 && n > 1) ? r.ppl * std::sqrt(var / (n - 1)) : 0;
  return r;
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open text file '" + path + "'");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return io_error("cannot read text file '" + path + "'");
  if (s.empty()) return invalid_argument("text file '" + path + "' is empty");
  return s;
}

ChunkScorer engine_scorer(Engine& e) {
  return [&e](const std::vector<int32_t>& chunk, int first) -> Result<std::vector<double>> {
    if (static_cast<int>(chunk.size()) > e.n_ctx()) {
      return invalid_argument("perplexity: a chunk of " + std::to_string(chunk.size()) +
                              " tokens exceeds the engine's context of " +
                              std::to_string(e.n_ctx()));
    }
    e.release(0);  // every chunk starts from an empty context
    const graph::Batch b = scoring_batch(chunk, first, 0);
    LL_ASSIGN_OR_RETURN(std::vector<float> logits, e.eval(b));  // [n_out][n_vocab]
    return row_log_probs(b, logits.data(), e.n_vocab());
  };
}

}  // namespace ll::model
