// Perplexity over a ring equals the single-device figure bit for bit: the tail scores a chunk
// from the same logits with the same function (runtime/score.h), wherever the ring is cut, on
// the in-process ring (synchronous and with reordered delivery) and over ZeroMQ.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "model/engine.h"
#include "model/generate.h"
#include "model/perplexity.h"
#include "model/synth.h"
#include "net/codec.h"
#include "net_fixture.h"
#include "runtime/local_ring.h"
#include "runtime/score.h"
#include "runtime/wire.h"
#include "temp_dir.h"

namespace ll::runtime {
namespace {

struct Text {
  std::vector<int32_t> tokens;
  model::PerplexityOptions o;
};

Text random_text(int n_vocab, int n_ctx, int n_chunks, uint32_t seed) {
  std::mt19937 rng(seed);
  Text t;
  t.tokens.resize(n_chunks * n_ctx + 7);  // a partial last chunk, dropped
  for (auto& v : t.tokens) v = static_cast<int32_t>(rng() % n_vocab);
  t.o.n_ctx = n_ctx;
  t.o.bos_id = 1;
  return t;
}

// n_dev - 1 distinct cuts anywhere, inside layers too.
std::vector<int> random_cuts(const graph::Graph& g, int n_dev, std::mt19937& rng) {
  std::vector<int> cuts;
  while (static_cast<int>(cuts.size()) < n_dev - 1) {
    const int c = 1 + static_cast<int>(rng() % (g.nodes.size() - 1));
    if (std::find(cuts.begin(), cuts.end(), c) == cuts.end()) cuts.push_back(c);
  }
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

void expect_same(const Result<model::PerplexityResult>& got, const model::PerplexityResult& want,
                 const std::string& what) {
  ASSERT_TRUE(got.is_ok()) << what << ": " << got.status().to_string();
  EXPECT_EQ(got->ppl, want.ppl) << what;
  EXPECT_EQ(got->ppl_stderr, want.ppl_stderr) << what;
  EXPECT_EQ(got->ppl_per_chunk, want.ppl_per_chunk) << what;
  EXPECT_EQ(got->tokens_scored, want.tokens_scored) << what;
}

TEST(RingScore, LocalRingEqualsSingleDeviceBitForBit) {
  model::SynthSpec spec;
  spec.type = DType::kQ8_0;
  const std::string path = ll::testing::temp_path("score_q8.gguf");
  ASSERT_TRUE(model::write_synth(spec, path).is_ok());
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  const graph::Graph& g = (*m)->graph;
  const Text text = random_text(spec.n_vocab, 24, 3, 11);
  auto engine = model::Engine::create(**m, 1, text.o.n_ctx);
  ASSERT_TRUE(engine.is_ok());
  auto want = model::perplexity(text.tokens, text.o, model::engine_scorer(**engine));
  ASSERT_TRUE(want.is_ok()) << want.status().to_string();
  EXPECT_EQ(want->tokens_scored, 3 * 11);
  std::mt19937 rng(5);
  for (int trial = 0; trial < 8; ++trial) {
    const int n_dev = 1 + trial % 4;
    const std::vector<int> cuts = random_cuts(g, n_dev, rng);
    auto s = graph::segment_at(g, cuts);
    ASSERT_TRUE(s.is_ok());
    LocalRingOptions lo;
    lo.async = trial % 2 == 1;  // a thread per device, delivery reordered across links
    lo.max_delay_s = lo.async ? 0.002 : 0;
    lo.seed = trial;
    auto ring = LocalRing::create(g, *s, *(*m)->weights, text.o.n_ctx, 1, {1, 2}, lo);
    ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
    const std::string what = std::to_string(n_dev) + " devices, trial " + std::to_string(trial);
    expect_same(model::perplexity(text.tokens, text.o, ring_scorer(**ring, 30)), *want, what);
    EXPECT_EQ((*ring)->sequences().size(), 0u) << what;  // every chunk's sequence ended
  }
}

TEST(RingScore, ScoringAndGeneratingSequencesShareAPass) {
  model::SynthSpec spec;
  const std::string path = ll::testing::temp_path("score_mixed.gguf");
  ASSERT_TRUE(model::write_synth(spec, path).is_ok());
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.is_ok());
  const graph::Graph& g = (*m)->graph;
  const std::vector<int32_t> chunk = {1, 17, 300, 42, 8, 99, 5, 250};
  auto engine = model::Engine::create(**m, 1, 32);
  ASSERT_TRUE(engine.is_ok());
  auto want_lp = model::engine_scorer(**engine)(chunk, 3);
  ASSERT_TRUE(want_lp.is_ok());
  std::mt19937 rng(3);
  auto s = graph::segment_at(g, random_cuts(g, 3, rng));
  ASSERT_TRUE(s.is_ok());
  auto ring = LocalRing::create(g, *s, *(*m)->weights, 32, 2, {1});
  ASSERT_TRUE(ring.is_ok());
  model::SamplerParams greedy, score;
  greedy.temp = 0;
  score.score = true;
  ASSERT_TRUE((*ring)->start_sequence(0, greedy, {1, 5, 9}).is_ok());
  ASSERT_TRUE((*ring)->start_sequence(1, score, {}).is_ok());
  graph::Batch b = graph::Batch::prompt({1, 5, 9}, 0, 0);  // wants logits on its last row
  const graph::Batch sb = model::scoring_batch(chunk, 3, 1);
  for (int r = 0; r < sb.n_rows(); ++r) b.add(sb.tokens[r], sb.pos[r], 1, sb.want_logits[r]);
  ASSERT_TRUE((*ring)->submit((*ring)->new_pass(), b).is_ok());
  bool got_token = false, got_scores = false;
  for (int i = 0; i < 2; ++i) {
    auto ev = (*ring)->next_token(10);
    ASSERT_TRUE(ev.is_ok()) << ev.status().to_string();
    if (ev->seq == 0) {
      EXPECT_FALSE(ev->scored);
      model::Sampler sampler(greedy);
      auto fresh = model::Engine::create(**m, 1, 32);
      ASSERT_TRUE(fresh.is_ok());
      auto want_tok = model::generate(**fresh, {1, 5, 9}, 1, sampler, nullptr);
      ASSERT_TRUE(want_tok.is_ok());
      EXPECT_EQ(ev->token, want_tok->tokens.at(0));
      got_token = true;
    } else {
      EXPECT_TRUE(ev->scored);
      EXPECT_EQ(ev->token, -1);
      EXPECT_EQ(ev->log_probs, *want_lp);
      got_scores = true;
    }
  }
  EXPECT_TRUE(got_token && got_scores);
  // The scoring sequence's pass recorded no token in the table; the generating one did.
  EXPECT_TRUE((*ring)->sequences().find(1)->generated.empty());
  EXPECT_EQ((*ring)->sequences().find(0)->generated.size(), 1u);
  ASSERT_TRUE((*ring)->end_sequence(0).is_ok());
  ASSERT_TRUE((*ring)->end_sequence(1).is_ok());
  // A scoring row whose next token is not in the batch is an error naming the row.
  ASSERT_TRUE((*ring)->start_sequence(2, score, {}).is_ok());
  graph::Batch bad;
  bad.add(1, 0, 2, false);
  bad.add(7, 1, 2, true);  // its target would be row 2: missing
  Status st = (*ring)->submit((*ring)->new_pass(), bad);
  if (st.is_ok()) st = (*ring)->next_token(10).status();
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("next token is not in the batch"), std::string::npos)
      << st.to_string();
}

TEST(RingScore, ContextTooSmallForAChunkIsAClearError) {
  model::SynthSpec spec;
  const std::string path = ll::testing::temp_path("score_small.gguf");
  ASSERT_TRUE(model::write_synth(spec, path).is_ok());
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.is_ok());
  auto s = graph::segment_at((*m)->graph, {9});
  ASSERT_TRUE(s.is_ok());
  auto ring = LocalRing::create((*m)->graph, *s, *(*m)->weights, 16, 1, {1});
  ASSERT_TRUE(ring.is_ok());
  const Text text = random_text(spec.n_vocab, 24, 2, 3);
  auto r = model::perplexity(text.tokens, text.o, ring_scorer(**ring));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("context of 16"), std::string::npos)
      << r.status().to_string();
}

TEST(RingScore, NetRingEqualsSingleDeviceBitForBit) {
  testing::Fixture f(2);
  const graph::Graph& g = f.model->graph;
  const Text text = random_text(512, 32, 3, 21);
  auto engine = model::Engine::create(*f.model, 1, text.o.n_ctx);
  ASSERT_TRUE(engine.is_ok());
  auto want = model::perplexity(text.tokens, text.o, model::engine_scorer(**engine));
  ASSERT_TRUE(want.is_ok()) << want.status().to_string();
  std::mt19937 rng(8);
  auto ring = f.ring(random_cuts(g, 3, rng), 1);
  ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
  expect_same(model::perplexity(text.tokens, text.o, ring_scorer(**ring, 30)), *want,
              "3 devices over ZeroMQ");
  // Another random layout on the same live workers (a new epoch).
  auto layout = (*ring)->layout_from_cuts(random_cuts(g, 3, rng));
  ASSERT_TRUE(layout.is_ok()) << layout.status().to_string();
  ASSERT_TRUE((*ring)->redeploy(*layout).is_ok());
  expect_same(model::perplexity(text.tokens, text.o, ring_scorer(**ring, 30)), *want,
              "3 devices over ZeroMQ, redeployed");
}

TEST(RingScore, ScoringFlagAndScoresSurviveTheWire) {
  SeqStartInfo s;
  s.seq = 3;
  s.sampling.score = true;
  net::Message m = make_seq_start(s);
  EXPECT_TRUE(m.flags & net::kFlagScore);
  auto frames = net::encode(std::move(m));  // the header flag survives the codec
  ASSERT_TRUE(frames.is_ok());
  auto decoded = net::decode(*frames);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_TRUE(read_seq_start(*decoded).sampling.score);
  s.sampling.score = false;
  EXPECT_FALSE(read_seq_start(make_seq_start(s)).sampling.score);
  const std::vector<double> lp = {-0.1, -2.5e-300, -7.25};
  auto sframes = net::encode(make_scores(5, 2, lp));
  ASSERT_TRUE(sframes.is_ok());
  auto sdecoded = net::decode(*sframes);
  ASSERT_TRUE(sdecoded.is_ok()) << sdecoded.status().to_string();
  net::Message sm = std::move(*sdecoded);
  EXPECT_TRUE(is_scores(sm));
  auto back = read_scores(sm);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, lp);
  EXPECT_EQ(sm.seq_id, 5u);
  EXPECT_EQ(sm.step, 2u);
  sm.as<net::Step>()->tensors[0].dims = {4};  // claims more than it holds
  EXPECT_FALSE(read_scores(sm).is_ok());
}

}  // namespace
}  // namespace ll::runtime
