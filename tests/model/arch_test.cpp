// Issue 16 acceptance 1 (reference part): every family's tiny synthetic model, run by the
// engine, gives the greedy tokens of an independent float64 reference written from the
// families' public descriptions (scripts/reference_model.py, numpy) for 32 steps, with logits
// within 1e-4 relative.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/arch.h"
#include "model/engine.h"
#include "model/sampler.h"
#include "model/synth.h"
#include "temp_dir.h"

namespace ll::model {
namespace {

const std::vector<int32_t> kPrompt = {1, 5, 9, 42, 7, 3};
constexpr int kSteps = 32;

std::string python() {
  // Debian's interpreter, where python3-numpy installs; a PATH shim may lack numpy.
  return std::system("test -x /usr/bin/python3") == 0 ? "/usr/bin/python3" : "python3";
}

// Runs the reference; returns false with a reason when it cannot run (numpy missing: 77).
bool run_reference(const std::string& model, nlohmann::json* out, std::string* why) {
  std::string ids;
  for (int32_t t : kPrompt) ids += (ids.empty() ? "" : ",") + std::to_string(t);
  const std::string cmd = python() + " " + LL_SOURCE_DIR "/scripts/reference_model.py " + model +
                          " --prompt-ids " + ids + " -n " + std::to_string(kSteps);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return (*why = "cannot start python3", false);
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  const int st = pclose(p);
  const int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (rc == 77 || rc == 127) return (*why = "python3 with numpy is not installed", false);
  EXPECT_EQ(rc, 0) << cmd;
  *out = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(out->is_discarded()) << text.substr(0, 200);
  return rc == 0 && !out->is_discarded();
}

class ArchReference : public ::testing::TestWithParam<std::string> {};

void compare_with_reference(const std::string& arch, const SynthSpec& spec);

TEST_P(ArchReference, TinyModelMatchesIndependentReference) {
  auto spec = synth_preset(GetParam(), "tiny");
  ASSERT_TRUE(spec.is_ok()) << spec.status().to_string();
  compare_with_reference(GetParam(), *spec);
}

// Rope scaling keys of llama files: linear scaling, and llama-3.1 per-dimension divisors.
TEST(ArchReferenceLlama, LinearRopeScalingMatchesReference) {
  auto spec = synth_preset("llama", "tiny");
  spec->rope_scaling_factor = 4.0f;
  compare_with_reference("llama", *spec);
}

TEST(ArchReferenceLlama, RopeFrequencyFactorsMatchReference) {
  auto spec = synth_preset("llama", "tiny");
  spec->rope_freqs = true;
  compare_with_reference("llama", *spec);
}

// ALiBi slopes for a head count that is not a power of two (the released BLOOMs have 16 or 32
// heads, so only this test reaches the second slope sequence).
TEST(ArchReferenceBloom, SixHeadsMatchReference) {
  auto spec = synth_preset("bloom", "tiny");
  spec->n_embd = 96;
  spec->n_head = spec->n_head_kv = 6;
  spec->n_ff = 384;
  compare_with_reference("bloom", *spec);
}

void compare_with_reference(const std::string& arch, const SynthSpec& spec) {
  const std::string path = ll::testing::temp_path("ref_" + arch + ".gguf");
  ASSERT_TRUE(write_synth(spec, path).is_ok());
  nlohmann::json ref;
  std::string why;
  if (!run_reference(path, &ref, &why)) {
    if (!why.empty()) GTEST_SKIP() << why;
    return;
  }
  auto m = Model::load(path);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ((*m)->hp().arch, arch);
  auto e = Engine::create(**m, 2, 256);
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  auto logits = (*e)->eval(graph::Batch::prompt(kPrompt, 0));
  ASSERT_TRUE(logits.is_ok()) << logits.status().to_string();
  int pos = static_cast<int>(kPrompt.size());
  double worst = 0;
  for (int step = 0; step < kSteps; ++step) {
    const std::vector<double> want = ref["logits"][step].get<std::vector<double>>();
    ASSERT_EQ(want.size(), logits->size());
    double max_ref = 0, max_diff = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      max_ref = std::max(max_ref, std::abs(want[i]));
      max_diff = std::max(max_diff, std::abs((*logits)[i] - want[i]));
    }
    const double rel = max_diff / std::max(max_ref, 1e-30);
    worst = std::max(worst, rel);
    EXPECT_LE(rel, 1e-4) << arch << " step " << step;
    const int32_t t = Sampler::argmax(logits->data(), (*e)->n_vocab());
    ASSERT_EQ(t, ref["tokens"][step].get<int32_t>()) << arch << " greedy token at step " << step;
    logits = (*e)->eval(graph::Batch::prompt({t}, pos++));
    ASSERT_TRUE(logits.is_ok());
  }
  // Random weights that only echo a token would make the token comparison empty.
  const auto toks = ref["tokens"].get<std::vector<int32_t>>();
  EXPECT_GE(std::set<int32_t>(toks.begin(), toks.end()).size(), 4u) << arch << " is degenerate";
  std::printf("%s: %d greedy tokens equal the float64 reference; worst logit error %.2e relative\n",
              arch.c_str(), kSteps, worst);
}

INSTANTIATE_TEST_SUITE_P(Families, ArchReference,
                         ::testing::Values("llama", "qwen2", "gpt2", "bloom", "phi3", "falcon"),
                         [](const auto& info) { return info.param; });

// The registry knows every family and names them in the error for an unknown one.
TEST(ArchRegistry, UnknownArchitectureIsAClearError) {
  gguf::Writer w;
  w.set_string("general.architecture", "mamba");
  const std::string path = ll::testing::temp_path("unknown_arch.gguf");
  ASSERT_TRUE(w.write(path).is_ok());
  auto m = Model::load(path);
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("'mamba' is not supported"), std::string::npos)
      << m.status().to_string();
  EXPECT_NE(m.status().message().find("bloom"), std::string::npos);
  for (const char* a : {"llama", "qwen2", "gpt2", "bloom", "phi3", "falcon"})
    EXPECT_NE(find_arch(a), nullptr) << a;
  EXPECT_EQ(find_arch("mamba"), nullptr);
  EXPECT_NE(arch_names().find("falcon"), std::string::npos);
}

// The graph uses the ops its family is defined by: ALiBi only in bloom, learned positions only
// in gpt2, fused QKV slices in the fused families, rope where the family has it.
TEST(ArchRegistry, FamiliesUseTheirDefiningOps) {
  for (const char* a : {"llama", "qwen2", "gpt2", "bloom", "phi3", "falcon"}) {
    auto spec = synth_preset(a, "tiny");
    ASSERT_TRUE(spec.is_ok());
    const std::string path = ll::testing::temp_path(std::string("ops_") + a + ".gguf");
    ASSERT_TRUE(write_synth(*spec, path).is_ok());
    auto m = Model::load(path);
    ASSERT_TRUE(m.is_ok()) << a << ": " << m.status().to_string();
    int alibi = 0, pos = 0, slices = 0, rope = 0, layer_norm = 0, gelu = 0;
    for (const graph::Node& n : (*m)->graph.nodes) {
      alibi += n.op == graph::OpType::kAttention && n.params.alibi;
      pos += n.op == graph::OpType::kAddPosEmbd;
      slices += n.op == graph::OpType::kSlice;
      rope += n.op == graph::OpType::kRope;
      layer_norm += n.op == graph::OpType::kLayerNorm;
      gelu += n.op == graph::OpType::kGelu;
    }
    const std::string s = a;
    EXPECT_EQ(alibi > 0, s == "bloom") << a;
    EXPECT_EQ(pos > 0, s == "gpt2") << a;
    EXPECT_EQ(slices > 0, s == "gpt2" || s == "bloom" || s == "phi3" || s == "falcon") << a;
    EXPECT_EQ(rope > 0, s != "gpt2" && s != "bloom") << a;
    EXPECT_EQ(layer_norm > 0, s == "gpt2" || s == "bloom" || s == "falcon") << a;
    EXPECT_EQ(gelu > 0, s == "gpt2" || s == "bloom" || s == "falcon") << a;
  }
}

}  // namespace
}  // namespace ll::model
