// Perplexity over a ring equals the single-device figure bit for bit: the tail scores a chunk
// from the same logits with the same function (runtime/score.h), wherever the ring is cut.
#include <gtest/gtest.h>

#include <random>

#include "model/engine.h"
#include "model/perplexity.h"
#include "model/synth.h"
#include "runtime/local_ring.h"
#include "runtime/score.h"
#include "runtime/wire.h"
#include "temp_dir.h"

namespace ll::runtime {
namespace {

TEST(RingScore, LocalRingEqualsSingleDeviceBitForBit) {
  model::SynthSpec spec;
  spec.type = DType::kQ8_0;
  const std::string path = ll::testing::temp_path("score_q8.gguf");
  ASSERT_TRUE(model::write_synth(spec, path).is_ok());
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  const graph::Graph& g = (*m)->graph;
  std::mt19937 rng(11);
  std::vector<int32_t> tokens(3 * 24 + 7);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % spec.n_vocab);
  model::PerplexityOptions o;
  o.n_ctx = 24;
  o.bos_id = 1;
  auto engine = model::Engine::create(**m, 1, o.n_ctx);
  ASSERT_TRUE(engine.is_ok());
  auto want = model::perplexity(tokens, o, model::engine_scorer(**engine));
  ASSERT_TRUE(want.is_ok()) << want.status().to_string();
  for (int n_dev = 1; n_dev <= 4; ++n_dev) {
    std::vector<int> cuts;  // anywhere, inside layers too
    while (static_cast<int>(cuts.size()) < n_dev - 1) {
      int c = 1 + rng() % (g.nodes.size() - 1);
      if (std::find(cuts.begin(), cuts.end(), c) == cuts.end()) cuts.push_back(c);
    }
    std::sort(cuts.begin(), cuts.end());
    auto s = graph::segment_at(g, cuts);
    ASSERT_TRUE(s.is_ok());
    auto ring = LocalRing::create(g, *s, *(*m)->weights, o.n_ctx, 1, {1, 2});
    ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
    auto got = model::perplexity(tokens, o, ring_scorer(**ring));
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_EQ(got->ppl, want->ppl) << n_dev << " devices";
    EXPECT_EQ(got->ppl_stderr, want->ppl_stderr) << n_dev << " devices";
    EXPECT_EQ(got->ppl_per_chunk, want->ppl_per_chunk) << n_dev << " devices";
    EXPECT_EQ(got->tokens_scored, 3 * 11);
    // A ring whose context cannot hold a chunk says so.
    auto small = LocalRing::create(g, *s, *(*m)->weights, 16, 1, {1});
    ASSERT_TRUE(small.is_ok());
    auto err = model::perplexity(tokens, o, ring_scorer(**small));
    ASSERT_FALSE(err.is_ok());
    EXPECT_NE(err.status().message().find("context"), std::string::npos);
  }
}

TEST(RingScore, ScoresAndScoringFlagSurviveTheWire) {
  model::SamplerParams p;
  p.score = true;
  auto ss = read_seq_start(make_seq_start(3, p, {}));
  ASSERT_TRUE(ss.is_ok());
  EXPECT_TRUE(ss->first.score);
  p.score = false;
  EXPECT_FALSE(read_seq_start(make_seq_start(3, p, {}))->first.score);
  const std::vector<double> lp = {-0.1, -2.5e-300, -7.25};
  net::Message m = make_scores(5, 2, lp);
  EXPECT_TRUE(is_scores(m));
  EXPECT_FALSE(is_seq_start(m));
  auto back = read_scores(m);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, lp);
  EXPECT_EQ(m.seq_id, 5u);
  m.as<net::Step>()->tensors[0].dims = {4};  // claims more than it holds
  EXPECT_FALSE(read_scores(m).is_ok());
}

}  // namespace
}  // namespace ll::runtime
