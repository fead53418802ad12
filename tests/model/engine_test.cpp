#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/engine.h"
#include "model/sampler.h"
#include "model/synth.h"
#include "shared_dir.h"
#include "temp_dir.h"

namespace ll::model {
namespace {

std::vector<int32_t> greedy(Engine& e, std::vector<int32_t> prompt, int n,
                            std::vector<std::vector<float>>* logits_out = nullptr) {
  std::vector<int32_t> out;
  auto logits = e.eval(graph::Batch::prompt(prompt, 0));
  EXPECT_TRUE(logits.is_ok()) << logits.status().to_string();
  int pos = static_cast<int>(prompt.size());
  for (int i = 0; i < n; ++i) {
    if (logits_out) logits_out->push_back(*logits);
    const int32_t t = Sampler::argmax(logits->data(), e.n_vocab());
    out.push_back(t);
    logits = e.eval(graph::Batch::prompt({t}, pos++));
    EXPECT_TRUE(logits.is_ok());
  }
  return out;
}

TEST(Engine, Stories260KMatchesGreedyReference) {
  LL_REQUIRE_SHARED("models/stories260K.gguf");
  auto m = Model::load(ll::testing::shared_path("models/stories260K.gguf"));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  std::ifstream in(ll::testing::shared_path("models/reference/stories260K.greedy.json"));
  nlohmann::json ref = nlohmann::json::parse(in);
  auto e = Engine::create(**m, 1, 256);
  ASSERT_TRUE(e.is_ok());
  std::vector<std::vector<float>> logits;
  auto ids = greedy(**e, {ref["bos"].get<int32_t>()}, 32, &logits);
  std::vector<int32_t> want = ref["greedy_ids"].get<std::vector<int32_t>>();
  EXPECT_EQ(ids, want);
  double max_err = 0;
  for (int step = 0; step < 32; ++step) {
    std::printf("step %2d:", step);
    for (const auto& pair : ref["top5_logits_per_step"][step]) {
      const int id = pair[0].get<int>();
      const double want_l = pair[1].get<double>();
      const double got = logits[step][id];
      max_err = std::max(max_err, std::abs(got - want_l));
      std::printf(" %d:%.5f/%.5f", id, got, want_l);
      EXPECT_NEAR(got, want_l, 1e-3) << "step " << step << " token " << id;
    }
    std::printf("\n");
  }
  std::printf("max top-5 logit error vs reference: %.2e\n", max_err);
}

// Models these tests run on: a synthetic one always, stories260K too when ../shared has it.
std::vector<std::string> engine_models() {
  static const std::string synth = [] {
    const std::string p = ll::testing::temp_path("engine_synth_q8.gguf");
    SynthSpec spec;
    spec.type = DType::kQ8_0;
    EXPECT_TRUE(write_synth(spec, p).is_ok());
    return p;
  }();
  std::vector<std::string> out = {synth};
  if (ll::testing::shared_exists("models/stories260K.gguf"))
    out.push_back(ll::testing::shared_path("models/stories260K.gguf"));
  return out;
}

TEST(Engine, PrefillEqualsTokenByTokenDecode) {
  for (const std::string& path : engine_models()) {
    auto m = Model::load(path);
    ASSERT_TRUE(m.is_ok()) << path;
    std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 432, 383};
    auto a = Engine::create(**m, 2, 64);
    auto b = Engine::create(**m, 1, 64);
    auto la = (*a)->eval(graph::Batch::prompt(prompt, 0));
    Result<std::vector<float>> lb = std::vector<float>{};
    for (size_t i = 0; i < prompt.size(); ++i)
      lb = (*b)->eval(graph::Batch::prompt({prompt[i]}, static_cast<int>(i)));
    ASSERT_TRUE(la.is_ok() && lb.is_ok()) << path;
    EXPECT_EQ(*la, *lb) << path;  // bit-identical: batch size and thread count must not matter
  }
}

TEST(Engine, BadTokenAndContextOverflowAreErrors) {
  for (const std::string& path : engine_models()) {
    auto m = Model::load(path);
    ASSERT_TRUE(m.is_ok()) << path;
    auto e = Engine::create(**m, 1, 8);
    auto bad = (*e)->eval(graph::Batch::prompt({100000}, 0));
    ASSERT_FALSE(bad.is_ok()) << path;
    EXPECT_NE(bad.status().message().find("vocabulary"), std::string::npos);
    auto over = (*e)->eval(graph::Batch::prompt({1}, 8));
    ASSERT_FALSE(over.is_ok()) << path;
    EXPECT_NE(over.status().message().find("context"), std::string::npos);
  }
}

TEST(Sampler, SameSeedSameTokens) {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[i] = std::sin(i * 0.37f) * 3;
  SamplerParams p;
  p.temp = 1.0f;
  p.seed = 1234;
  Sampler a(p), b(p);
  std::vector<int32_t> ha, hb;
  for (int i = 0; i < 50; ++i) {
    ha.push_back(a.sample(logits.data(), 100, ha));
    hb.push_back(b.sample(logits.data(), 100, hb));
  }
  EXPECT_EQ(ha, hb);
  // A different seed gives a different sequence (with overwhelming probability).
  p.seed = 99;
  Sampler c(p);
  std::vector<int32_t> hc;
  for (int i = 0; i < 50; ++i) hc.push_back(c.sample(logits.data(), 100, hc));
  EXPECT_NE(ha, hc);
  // top_k = 1 is greedy.
  p.top_k = 1;
  Sampler d(p);
  EXPECT_EQ(d.sample(logits.data(), 100, {}), Sampler::argmax(logits.data(), 100));
}

TEST(Sampler, RepetitionPenaltyDemotesSeenTokens) {
  std::vector<float> logits = {2.0f, 1.9f, 0.0f};
  SamplerParams p;
  p.temp = 0;
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  EXPECT_EQ(s.sample(logits.data(), 3, {}), 0);
  EXPECT_EQ(s.sample(logits.data(), 3, {0}), 1);
}

}  // namespace
}  // namespace ll::model
