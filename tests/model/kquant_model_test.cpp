// Models re-encoded with `quantize` (every new type and mix): greedy agreement with the F32
// source on the shared models (docs/quantization.md), the fallback of rows that are not whole
// super-blocks, and a synthetic model wide enough to run the K-quant kernels end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/greedy_test_util.h"
#include "model/quant_mix.h"
#include "model/quantize_file.h"
#include "model/synth.h"
#include "shared_dir.h"
#include "temp_dir.h"

namespace ll::model {
namespace {

using testing::greedy;
using testing::greedy_agreement;
using testing::GreedyRun;

std::string quantized(const std::string& src, const std::string& scheme_name,
                      std::vector<std::string>* notes) {
  auto scheme = parse_quant_scheme(scheme_name);
  EXPECT_TRUE(scheme.is_ok());
  const std::string out = ll::testing::temp_dir() + "/q-" + scheme_name + ".gguf";
  QuantizeOptions o;
  o.threads = 2;
  o.note = [&](const std::string& s) { notes->push_back(s); };
  Status st = quantize_file(src, out, *scheme, o);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return out;
}

const char* const kSchemes[] = {"Q4_1", "Q5_0", "Q5_1",   "Q2_K",   "Q3_K",  "Q4_K",
                                "Q5_K", "Q6_K", "Q3_K_M", "Q4_K_M", "Q5_K_M"};

// Greedy agreement of each scheme with F32, printed for docs/quantization.md. These models
// have n_embd 64/128, so every K-quant matrix falls back to a 32-element type (and quantize
// says so for each); the bounds sit well below the measured figures.
void check_family(const std::string& f32_path, const std::string& stem) {
  const int n = 32;
  const GreedyRun ref = greedy(f32_path, n);
  for (const char* name : kSchemes) {
    std::vector<std::string> notes;
    const std::string path = quantized(f32_path, name, &notes);
    const GreedyRun run = greedy(path, n);
    const int agree = greedy_agreement(run.tokens, ref.tokens);
    std::printf("%s %-6s greedy tokens agree for %2d/%d steps (%zu fallback notes)\n", stem.c_str(),
                name, agree, n, notes.size());
    const std::string s = name;
    if (s.find("_K") != std::string::npos) {
      EXPECT_GT(notes.size(), 0u) << name;
    }
    if (s == "Q6_K" || s == "Q5_K" || s == "Q5_K_M" || s == "Q5_0" || s == "Q5_1") {
      EXPECT_GE(agree, 3) << stem << " " << name;  // TinyStories-656K: 5 measured
    }
    ASSERT_EQ(run.tokens.size(), static_cast<size_t>(n));
  }
}

TEST(KQuantDerived, Stories260K) {
  LL_REQUIRE_SHARED("models/stories260K.gguf");
  check_family(ll::testing::shared_path("models/stories260K.gguf"), "stories260K");
}

TEST(KQuantDerived, TinyStories656K) {
  LL_REQUIRE_SHARED("models/derived/TinyStories-656K-F32.derived.gguf");
  check_family(ll::testing::shared_path("models/derived/TinyStories-656K-F32.derived.gguf"),
               "TinyStories-656K");
}

// A synthetic model with 256-wide rows runs the K-quant kernels themselves: each type's
// teacher-forced logits stay close to F32's, closer with more bits.
TEST(KQuantDerived, SyntheticWideModelRunsEveryKQuant) {
  SynthSpec s;
  s.n_embd = 256;
  s.n_ff = 512;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_vocab = 384;
  const std::string f32 = ll::testing::temp_dir() + "/wide-f32.gguf";
  ASSERT_TRUE(write_synth(s, f32).is_ok());
  const int n = 8;
  const GreedyRun ref = greedy(f32, n);
  double prev = 0;
  for (const char* name : {"Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q3_K", "Q2_K"}) {
    std::vector<std::string> notes;
    const std::string path = quantized(f32, name, &notes);
    EXPECT_TRUE(notes.empty()) << name << ": " << (notes.empty() ? "" : notes[0]);
    auto file = gguf::File::open(path);
    ASSERT_TRUE(file.is_ok());
    EXPECT_EQ(dtype_name(*(*file)->find_tensor("blk.0.ffn_down.weight")->dtype), name);
    const GreedyRun run = greedy(path, n, &ref.tokens);
    double dev = 0, mag = 0;
    for (int t = 0; t < n; ++t) {
      for (size_t k = 0; k < ref.logits[t].size(); ++k) {
        dev += std::pow(run.logits[t][k] - ref.logits[t][k], 2);
        mag += std::pow(ref.logits[t][k], 2);
      }
    }
    const double rel = std::sqrt(dev / mag);
    std::printf("synthetic %-5s relative logit deviation %.4f\n", name, rel);
    // Q2_K keeps 2 bits of uniform random weights: about a third of their spread is error.
    EXPECT_LT(rel, std::string(name) == "Q2_K" ? 0.75 : 0.5) << name;
    EXPECT_GE(rel, prev * 0.7) << name << " is closer to F32 than a type with more bits";
    prev = rel;
  }
}

// The reader knows every new type's block geometry: sizes, and rows that are not whole blocks.
TEST(KQuantGguf, ReaderValidatesEveryNewType) {
  const std::string path = ll::testing::temp_dir() + "/types.gguf";
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  const DType types[] = {DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K,
                         DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_K};
  for (DType t : types) {
    w.add_tensor(std::string(dtype_name(t)), {512, 3}, t,
                 [](uint8_t* out, size_t n) { std::memset(out, 0x11, n); });
  }
  ASSERT_TRUE(w.write(path).is_ok());
  auto f = gguf::File::open(path);
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  for (DType t : types) {
    const gguf::TensorInfo* ti = (*f)->find_tensor(dtype_name(t));
    ASSERT_NE(ti, nullptr);
    EXPECT_EQ(ti->dtype, t);
    EXPECT_EQ(ti->n_bytes, 3 * row_bytes(t, 512)) << dtype_name(t);
  }
  // The writer refuses such a tensor, so write an F32 one and change its type id to Q4_K's.
  gguf::Writer bad;
  bad.add_tensor("w", {128, 2}, DType::kF32,
                 [](uint8_t* out, size_t n) { std::memset(out, 0, n); });
  ASSERT_TRUE(bad.write(path).is_ok());
  {
    std::FILE* fp = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(fp, nullptr);
    std::vector<uint8_t> bytes(4096);
    bytes.resize(std::fread(bytes.data(), 1, bytes.size(), fp));
    const uint8_t info[] = {128, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    auto it = std::search(bytes.begin(), bytes.end(), std::begin(info), std::end(info));
    ASSERT_NE(it, bytes.end());
    std::fseek(fp, static_cast<long>(it - bytes.begin()) + 16, SEEK_SET);
    const uint32_t q4k = static_cast<uint32_t>(DType::kQ4_K);
    std::fwrite(&q4k, 4, 1, fp);
    std::fclose(fp);
  }
  auto g = gguf::File::open(path);
  ASSERT_FALSE(g.is_ok());
  EXPECT_NE(g.status().to_string().find("not a multiple of its block size 256"), std::string::npos)
      << g.status().to_string();
}

TEST(KQuantMix, ChoicesAndFallbacks) {
  auto m = parse_quant_scheme("q4_k_m");
  ASSERT_TRUE(m.is_ok());
  EXPECT_TRUE(m->mix);
  EXPECT_EQ(choose_tensor_type(*m, "output.weight", 2048, 22).type, DType::kQ6_K);
  EXPECT_EQ(choose_tensor_type(*m, "blk.0.attn_v.weight", 2048, 22).type, DType::kQ6_K);
  EXPECT_EQ(choose_tensor_type(*m, "blk.5.attn_v.weight", 2048, 22).type, DType::kQ4_K);
  EXPECT_EQ(choose_tensor_type(*m, "blk.5.attn_q.weight", 2048, 22).type, DType::kQ4_K);
  // Rows of 5632 = 22 x 256 are whole super-blocks; 172 are not even whole 32-blocks.
  EXPECT_EQ(choose_tensor_type(*m, "blk.4.ffn_down.weight", 5632, 22).type, DType::kQ6_K);
  TensorType t = choose_tensor_type(*m, "blk.1.attn_q.weight", 96, 22);
  EXPECT_EQ(t.type, DType::kQ5_0);
  EXPECT_EQ(t.wanted, DType::kQ4_K);
  EXPECT_EQ(fallback_type(DType::kQ6_K, 172), DType::kF16);
  EXPECT_EQ(fallback_type(DType::kQ6_K, 64), DType::kQ8_0);
  EXPECT_FALSE(parse_quant_scheme("Q8_K").is_ok());  // activation format only
  EXPECT_FALSE(parse_quant_scheme("Q7_K").is_ok());
  EXPECT_EQ(parse_quant_scheme("q6_k")->base, DType::kQ6_K);
}

}  // namespace
}  // namespace ll::model
