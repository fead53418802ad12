// `perplexity` end to end: the figure over a ring of 3 devices (--cluster 3, local worker
// processes over ZeroMQ, and cuts inside layers) equals the single-device figure exactly, and bad
// input (missing file, empty text, text shorter than a chunk) gets a clear error.
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

TEST(PerplexityCli, Cluster3EqualsSingleDevice) {
  const auto want = ppl_json({"--chunks", "4"});
  ASSERT_TRUE(want.contains("ppl")) << want.dump();
  EXPECT_EQ(want["chunks"], 4);
  EXPECT_EQ(want["ctx"], 64);
  EXPECT_EQ(want["tokens_scored"], 4 * 31);
  EXPECT_GT(want["ppl"].get<double>(), 1.0);
  EXPECT_GT(want["ppl_stderr"].get<double>(), 0.0);
  const auto planned = ppl_json({"--chunks", "4", "--cluster", "3", "--threads", "2"});
  EXPECT_EQ(planned["ppl"], want["ppl"]) << planned.dump() << " vs " << want.dump();
  EXPECT_EQ(planned["ppl_stderr"], want["ppl_stderr"]);
  // Cuts inside layers: residual edges skip a device.
  const auto cut = ppl_json({"--chunks", "4", "--cluster", "3", "--cuts", "5,13", "--insecure"});
  EXPECT_EQ(cut["ppl"], want["ppl"]) << cut.dump() << " vs " << want.dump();
  EXPECT_EQ(cut["tokens_scored"], want["tokens_scored"]);
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
}

}  // namespace
}  // namespace ll::testing
