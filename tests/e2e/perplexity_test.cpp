// `perplexity` end to end: the JSON figure, the same figure over a ring of 3 devices (local
// worker processes over ZeroMQ, planned and with cuts inside layers), and clear errors for bad
// input (missing file, empty text, text shorter than a chunk, a bad --n-devices).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "process.h"
#include "temp_dir.h"

namespace ll::testing {
namespace {

std::string make_text(int sentences) {
  static const char* words[] = {"the", "little", "robot", "found", "a",    "red",  "ball",
                                "in",  "garden", "and",   "then",  "sang", "song", "quiet"};
  std::string s;
  unsigned x = 12345;
  for (int i = 0; i < sentences; ++i) {
    for (int w = 0; w < 9; ++w) {
      x = x * 1103515245u + 12345u;
      s += std::string(w ? " " : "") + words[(x >> 16) % 14];
    }
    s += ".\n";
  }
  return s;
}

struct Files {
  std::string model = temp_path("ppl_e2e.gguf"), text = temp_path("ppl_e2e.txt");
  Files() {
    std::string out;
    EXPECT_EQ(run_binary({"synth", "--preset", "tiny", "--type", "Q8_0", "-o", model}, &out), 0);
    std::ofstream(text) << make_text(120);
  }
};

nlohmann::json ppl_json(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"perplexity", "-m", "", "-f", "", "--ctx", "64", "--json"};
  static Files f;
  args[2] = f.model;
  args[4] = f.text;
  args.insert(args.end(), extra.begin(), extra.end());
  std::string out, err;
  EXPECT_EQ(run_binary(args, &out, &err), 0) << err;
  auto j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << out << err;
  return j;
}

TEST(PerplexityCli, JsonFigure) {
  const auto j = ppl_json({"--chunks", "4"});
  ASSERT_TRUE(j.contains("ppl")) << j.dump();
  EXPECT_EQ(j["chunks"], 4);
  EXPECT_EQ(j["ctx"], 64);
  EXPECT_EQ(j["tokens_scored"], 4 * 31);
  EXPECT_GT(j["ppl"].get<double>(), 1.0);
  EXPECT_GT(j["ppl_stderr"].get<double>(), 0.0);
  // The same text and model give the same figure with more threads.
  EXPECT_EQ(ppl_json({"--chunks", "4", "--threads", "2"})["ppl"], j["ppl"]);
}

TEST(PerplexityCli, NDevices3EqualsSingleDevice) {
  const auto want = ppl_json({"--chunks", "4"});
  ASSERT_TRUE(want.contains("ppl")) << want.dump();
  EXPECT_EQ(want["devices"], 1);
  // Equal layers on the 3 devices (the planner puts a model this small on the head alone).
  const auto planned =
      ppl_json({"--chunks", "4", "--n-devices", "3", "--placement", "even", "--insecure"});
  ASSERT_TRUE(planned.contains("ppl")) << planned.dump();
  EXPECT_EQ(planned["devices"], 3);
  EXPECT_EQ(planned["ppl"].get<double>(), want["ppl"].get<double>())
      << planned.dump() << " vs " << want.dump();
  EXPECT_EQ(planned["ppl_stderr"].get<double>(), want["ppl_stderr"].get<double>());
  EXPECT_EQ(planned["tokens_scored"], want["tokens_scored"]);
  EXPECT_EQ(planned["chunks"], 4);
  // Cuts inside layers (residual edges skip a device), encrypted links (an ephemeral key).
  const auto cut = ppl_json({"--chunks", "4", "--n-devices", "3", "--cuts", "5,13"});
  ASSERT_TRUE(cut.contains("ppl")) << cut.dump();
  EXPECT_EQ(cut["devices"], 3);
  EXPECT_EQ(cut["ppl"].get<double>(), want["ppl"].get<double>())
      << cut.dump() << " vs " << want.dump();
  EXPECT_EQ(cut["ppl_stderr"].get<double>(), want["ppl_stderr"].get<double>());
}

TEST(PerplexityCli, ClearErrors) {
  static Files f;
  std::string out, err;
  EXPECT_NE(run_binary({"perplexity", "-m", f.model, "-f", temp_path("missing.txt")}, &out, &err),
            0);
  EXPECT_NE(err.find("missing.txt"), std::string::npos) << err;
  const std::string empty = temp_path("empty.txt");
  std::ofstream(empty).close();
  EXPECT_NE(run_binary({"perplexity", "-m", f.model, "-f", empty}, &out, &err), 0);
  EXPECT_NE(err.find("empty"), std::string::npos) << err;
  const std::string short_text = temp_path("short.txt");
  std::ofstream(short_text) << "the little robot.";
  EXPECT_NE(run_binary({"perplexity", "-m", f.model, "-f", short_text}, &out, &err), 0);
  EXPECT_NE(err.find("fewer than one chunk"), std::string::npos) << err;
  EXPECT_NE(run_binary({"perplexity", "-m", f.model, "-f", f.text, "--n-devices", "0"}, &out, &err),
            0);
  EXPECT_NE(err.find("--n-devices must be"), std::string::npos) << err;
  EXPECT_NE(run_binary({"perplexity", "-m", f.model, "-f", f.text, "--workers", "127.0.0.1:1"},
                       &out, &err),
            0);
  EXPECT_NE(err.find("--key"), std::string::npos) << err;
}

}  // namespace
}  // namespace ll::testing
