// The ring of devices (in one process) produces exactly the single-device tokens, greedy and
// seeded, for every number of devices and for splits inside layers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "model/engine.h"
#include "model/generate.h"
#include "model/synth.h"
#include "runtime/local_ring.h"
#include "shared_dir.h"
#include "temp_dir.h"

namespace ll::runtime {
namespace {

std::vector<int32_t> single_device(const model::Model& m, const std::vector<int32_t>& prompt, int n,
                                   const model::SamplerParams& sp) {
  auto e = model::Engine::create(m, 1, 128);
  model::Sampler s(sp);
  auto r = model::generate(**e, prompt, n, s, nullptr);
  EXPECT_TRUE(r.is_ok());
  return r->tokens;
}

void check_model(const std::string& path) {
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  const graph::Graph& g = (*m)->graph;
  const std::vector<int32_t> prompt = {1, 17, 33, 5};
  model::SamplerParams greedy;
  greedy.temp = 0;
  model::SamplerParams seeded;
  seeded.temp = 0.9f;
  seeded.seed = 1234;
  seeded.repeat_penalty = 1.1f;
  std::mt19937 rng(5);
  for (const auto& sp : {greedy, seeded}) {
    const auto want = single_device(**m, prompt, 24, sp);
    for (int n_dev = 1; n_dev <= 5; ++n_dev) {
      // Random cuts anywhere (inside layers too), one coarse segment per device.
      std::vector<int> cuts;
      while (static_cast<int>(cuts.size()) < n_dev - 1) {
        int c = 1 + rng() % (g.nodes.size() - 1);
        if (std::find(cuts.begin(), cuts.end(), c) == cuts.end()) cuts.push_back(c);
      }
      auto s = graph::segment_at(g, cuts);
      auto ring = LocalRing::create(g, *s, *(*m)->weights, 128, 1, {1, 2});
      ASSERT_TRUE(ring.is_ok()) << ring.status().to_string();
      auto got = generate_on_ring(**ring, prompt, 24, sp, nullptr, nullptr);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      EXPECT_EQ(got->tokens, want) << n_dev << " devices, temp " << sp.temp;
      // Again on the same ring: a new sequence (new id) gives the same tokens.
      auto again = generate_on_ring(**ring, prompt, 24, sp, nullptr, nullptr);
      ASSERT_TRUE(again.is_ok()) << again.status().to_string();
      EXPECT_EQ(again->tokens, want) << n_dev << " devices, second run, temp " << sp.temp;
    }
  }
}

TEST(LocalRing, Stories260KMatchesSingleDevice) {
  LL_REQUIRE_SHARED("models/stories260K.gguf");
  check_model(ll::testing::shared_path("models/stories260K.gguf"));
}

TEST(LocalRing, SyntheticQ4MatchesSingleDevice) {
  model::SynthSpec spec;
  spec.type = DType::kQ4_0;
  const std::string path = ll::testing::temp_path("ring_q4.gguf");
  ASSERT_TRUE(model::write_synth(spec, path).is_ok());
  check_model(path);
}

}  // namespace
}  // namespace ll::runtime
