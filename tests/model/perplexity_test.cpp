#include "model/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "model/synth.h"
#include "temp_dir.h"

namespace ll::model {
namespace {

TEST(Perplexity, TokenLogProbOfAHandBuiltRow) {
  const float logits[2] = {0.0f, std::log(3.0f)};  // softmax: 1/4, 3/4
  EXPECT_NEAR(token_log_prob(logits, 2, 1), std::log(0.75), 1e-7);
  EXPECT_NEAR(token_log_prob(logits, 2, 0), std::log(0.25), 1e-7);
  const float big[3] = {1000.0f, 1000.0f, 1000.0f};  // must not overflow
  EXPECT_NEAR(token_log_prob(big, 3, 2), -std::log(3.0), 1e-12);
}

// Two chunks of 8 with known log-probabilities: the estimate and its standard error by hand
// (mean NLL 2.5, population variance 7/12, se = sqrt(var / (n - 1)) carried by exp).
TEST(Perplexity, HandComputedEstimateAndChunking) {
  std::vector<int32_t> tokens(17);
  for (int i = 0; i < 17; ++i) tokens[i] = 100 + i;
  PerplexityOptions o;
  o.n_ctx = 8;
  o.bos_id = 1;
  std::vector<std::vector<int32_t>> seen;
  auto scorer = [&](const std::vector<int32_t>& chunk, int first) -> Result<std::vector<double>> {
    EXPECT_EQ(first, 4);
    seen.push_back(chunk);
    if (seen.size() == 1) return std::vector<double>{-1, -2, -3};
    return std::vector<double>{-3, -3, -3};
  };
  std::vector<double> running;
  auto r = perplexity(tokens, o, scorer, [&](int c, int n, double p) {
    EXPECT_EQ(n, 2);
    running.push_back(p);
  });
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->chunks, 2);  // the 17th token is not a whole chunk
  EXPECT_EQ(r->tokens_scored, 6);
  EXPECT_NEAR(r->ppl, 12.182493960703473, 1e-12);
  EXPECT_NEAR(r->ppl_stderr, 4.1611138607309535, 1e-12);
  ASSERT_EQ(running.size(), 2u);
  EXPECT_NEAR(running[0], std::exp(2.0), 1e-12);
  ASSERT_EQ(seen.size(), 2u);
  // BOS replaces each chunk's first token; the rest is the text in order, without overlap.
  EXPECT_EQ(seen[0], (std::vector<int32_t>{1, 101, 102, 103, 104, 105, 106, 107}));
  EXPECT_EQ(seen[1], (std::vector<int32_t>{1, 109, 110, 111, 112, 113, 114, 115}));

  o.n_chunks = 1;
  seen.clear();
  r = perplexity(tokens, o, scorer);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->chunks, 1);
  EXPECT_NEAR(r->ppl, std::exp(2.0), 1e-12);

  o.n_chunks = 0;
  o.bos_id = -1;  // a vocabulary without BOS keeps the text's own first token
  seen.clear();
  ASSERT_TRUE(perplexity(tokens, o, scorer).is_ok());
  EXPECT_EQ(seen[1][0], 108);
}

TEST(Perplexity, ClearErrors) {
  auto never = [](const std::vector<int32_t>&, int) -> Result<std::vector<double>> {
    ADD_FAILURE() << "scorer called on bad input";
    return std::vector<double>{};
  };
  PerplexityOptions o;
  o.n_ctx = 256;
  auto r = perplexity({}, o, never);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("no tokens"), std::string::npos) << r.status().message();
  r = perplexity(std::vector<int32_t>(255, 5), o, never);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("fewer than one chunk"), std::string::npos)
      << r.status().message();
  o.n_ctx = 2;
  EXPECT_FALSE(perplexity(std::vector<int32_t>(16, 5), o, never).is_ok());
  // A scorer returning the wrong count is caught, not averaged.
  o.n_ctx = 8;
  auto short_scorer = [](const std::vector<int32_t>&, int) -> Result<std::vector<double>> {
    return std::vector<double>{-1};
  };
  EXPECT_FALSE(perplexity(std::vector<int32_t>(16, 5), o, short_scorer).is_ok());

  auto missing = read_text_file(ll::testing::temp_path("no_such_text.txt"));
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("no_such_text.txt"), std::string::npos);
  const std::string empty = ll::testing::temp_path("empty.txt");
  std::ofstream(empty).close();
  auto e = read_text_file(empty);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("empty"), std::string::npos) << e.status().message();

  // A logits row whose target is not in the batch.
  graph::Batch b = graph::Batch::prompt({1, 2, 3}, 0);  // logits for the last row only
  std::vector<float> logits(4, 0.0f);
  EXPECT_FALSE(row_log_probs(b, logits.data(), 4).is_ok());
}

// The engine-backed figure against an independent computation: every chunk evaluated by a fresh
// engine with logits on all rows, probabilities by plain long-double softmax, a two-pass variance.
TEST(Perplexity, SyntheticModelMatchesIndependentComputation) {
  SynthSpec spec;
  const std::string path = ll::testing::temp_path("ppl_synth.gguf");
  ASSERT_TRUE(write_synth(spec, path).is_ok());
  auto m = Model::load(path);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  const int n_vocab = (*m)->hp().n_vocab;
  std::mt19937 rng(7);
  std::vector<int32_t> tokens(3 * 32 + 5);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % n_vocab);
  PerplexityOptions o;
  o.n_ctx = 32;
  o.bos_id = 1;
  auto engine = Engine::create(**m, 2, o.n_ctx);
  ASSERT_TRUE(engine.is_ok());
  auto r = perplexity(tokens, o, engine_scorer(**engine));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->chunks, 3);
  EXPECT_EQ(r->tokens_scored, 3 * 15);

  std::vector<long double> nll;
  for (int c = 0; c < 3; ++c) {
    auto fresh = Engine::create(**m, 1, o.n_ctx);
    ASSERT_TRUE(fresh.is_ok());
    graph::Batch b;
    for (int i = 0; i < o.n_ctx; ++i) b.add(i == 0 ? 1 : tokens[c * o.n_ctx + i], i, 0, true);
    auto logits = (*fresh)->eval(b);  // [n_ctx][n_vocab]
    ASSERT_TRUE(logits.is_ok());
    for (int i = o.n_ctx / 2; i + 1 < o.n_ctx; ++i) {
      const float* row = logits->data() + static_cast<size_t>(i) * n_vocab;
      long double z = 0;
      for (int v = 0; v < n_vocab; ++v) z += std::exp(static_cast<long double>(row[v]));
      nll.push_back(-std::log(std::exp(static_cast<long double>(row[b.tokens[i + 1]])) / z));
    }
  }
  long double mean = 0;
  for (long double v : nll) mean += v;
  mean /= nll.size();
  long double ss = 0;
  for (long double v : nll) ss += (v - mean) * (v - mean);
  const long double se = std::sqrt(ss / nll.size() / (nll.size() - 1));
  const double want_ppl = static_cast<double>(std::exp(mean));
  const double want_se = static_cast<double>(std::exp(mean) * se);
  std::printf("synthetic: ppl %.6f +/- %.6f (independent %.6f +/- %.6f)\n", r->ppl, r->ppl_stderr,
              want_ppl, want_se);
  EXPECT_NEAR(r->ppl, want_ppl, 1e-9 * want_ppl);
  EXPECT_NEAR(r->ppl_stderr, want_se, 1e-6 * want_se);
  EXPECT_GT(r->ppl_stderr, 0);
}

}  // namespace
}  // namespace ll::model
