// Issue 16 acceptance 1 (cluster part): for every family, `cluster --n-devices 4` (four emulated
// devices: the head and three workers) gives the tokens `generate` gives, greedy and seeded,
// with the planner's placement and with fixed cuts inside layers (residual edges skip devices).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

#include "process.h"
#include "temp_dir.h"

namespace ll::testing {
namespace {

nlohmann::json run_json(const std::vector<std::string>& args) {
  std::string out, err;
  const int rc = run_binary(args, &out, &err);
  EXPECT_EQ(rc, 0) << err;
  auto j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << out << err;
  return j;
}

class FamilyCluster : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilyCluster, ClusterOfThreeWorkersMatchesGenerate) {
  const std::string arch = GetParam();
  const std::string model = temp_path("cluster_" + arch + ".gguf");
  std::string out, err;
  ASSERT_EQ(run_binary({"synth", "--arch", arch, "--preset", "tiny", "--type", "Q8_0", "-o", model},
                       &out, &err),
            0)
      << err;
  // Greedy with the planner's placement; seeded sampling with cuts inside layers 0 and 1
  // (fused QKV, attention, MLP), so residual edges skip devices.
  for (const auto& [temp, cuts] :
       {std::pair<std::string, std::string>{"0", ""}, {"0.8", "3,12,20"}}) {
    auto want = run_json({"generate", "-m", model, "--prompt-ids", "1,5,9", "-n", "24", "--temp",
                          temp, "--seed", "7", "--json"});
    ASSERT_FALSE(want["tokens"].empty());
    std::vector<std::string> args = {
        "cluster", "--n-devices",  "4",           "-m",
        model,     "--prompt-ids", "1,5,9",       "-n",
        "24",      "--temp",       temp,          "--seed",
        "7",       "--json",       "--cache-dir", temp_path("cache_" + arch)};
    if (!cuts.empty()) args.insert(args.end(), {"--cuts", cuts});
    auto got = run_json(args);
    EXPECT_EQ(got["tokens"], want["tokens"]) << arch << " temp " << temp << " cuts " << cuts;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyCluster,
                         ::testing::Values("llama", "qwen2", "gpt2", "bloom", "phi3", "falcon"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ll::testing
