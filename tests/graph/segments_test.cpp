// Issue 4 acceptance: random segmentations executed through the map equal the whole graph,
// bit for bit; the map is exact in both directions; costs match hand-computed figures.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <set>

#include "graph/costs.h"
#include "graph/executor.h"
#include "graph/report.h"
#include "model/model.h"
#include "model/synth.h"
#include "shared_dir.h"
#include "temp_dir.h"

namespace ll::graph {
namespace {

std::string synth_model(const std::string& name, model::SynthSpec spec) {
  std::string path = ll::testing::temp_path(name + ".gguf");
  EXPECT_TRUE(model::write_synth(spec, path).is_ok());
  return path;
}

// Runs the segments one after another like separate devices: each has its own executor and KV
// cache, and receives only the tensors the map routes to it.
class Pipeline {
 public:
  Pipeline(const model::Model& m, const Segmentation& s, int n_ctx, ThreadPool* pool)
      : m_(m), s_(s), map_(build_map(m.graph, s)), pool_(pool) {
    for (int i = 0; i < s.size(); ++i) {
      auto ex = SegmentExecutor::create(m.graph, s, i, *m.weights);
      EXPECT_TRUE(ex.is_ok()) << ex.status().to_string();
      kv_.push_back(
          std::make_unique<KvCache>((*ex)->attention_layers(), m.hp().n_embd_kv(), n_ctx, 1));
      ex_.push_back(std::move(*ex));
    }
  }

  std::vector<float> eval(const Batch& b) {
    std::vector<TensorStore> inbox(s_.size());
    TensorStore sampler;
    for (int i = 0; i < s_.size(); ++i) {
      TensorStore out;
      Status st = ex_[i]->run(b, inbox[i], &out, kv_[i].get(), pool_);
      EXPECT_TRUE(st.is_ok()) << st.to_string();
      for (const MapEdge& e : map_.edges) {
        if (e.producer != i) continue;
        for (int c : e.consumers) {
          (c < 0 ? sampler : inbox[c])[e.tensor] = out.at(e.tensor);
        }
      }
    }
    return sampler.at(m_.graph.logits);
  }

 private:
  const model::Model& m_;
  Segmentation s_;
  TransmissionMap map_;
  ThreadPool* pool_;
  std::vector<std::unique_ptr<SegmentExecutor>> ex_;
  std::vector<std::unique_ptr<KvCache>> kv_;
};

std::vector<std::vector<float>> run_steps(Pipeline& p, const std::vector<int32_t>& prompt,
                                          int n_decode, int n_vocab) {
  std::vector<std::vector<float>> all;
  all.push_back(p.eval(Batch::prompt(prompt, 0)));
  int pos = static_cast<int>(prompt.size());
  for (int i = 0; i < n_decode; ++i) {
    const std::vector<float>& l = all.back();
    int32_t next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    all.push_back(p.eval(Batch::prompt({next}, pos++)));
  }
  return all;
}

void property_test(const std::string& path, int n_random, uint32_t seed) {
  auto m = model::Model::load(path);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  const Graph& g = (*m)->graph;
  const int n_nodes = static_cast<int>(g.nodes.size());
  const std::vector<int32_t> prompt = {1, 5, 9, 42, 7, 3};
  ThreadPool pool1(1), pool2(2);
  auto whole = segment_at(g, {});
  Pipeline ref_p(**m, *whole, 64, &pool1);
  const auto ref = run_steps(ref_p, prompt, 20, g.hp.n_vocab);
  std::mt19937 rng(seed);
  int inside_attention = 0, multi_tensor_cuts = 0;
  for (int iter = 0; iter < n_random; ++iter) {
    std::vector<int> cuts;
    const int n_cuts = 1 + rng() % std::min(12, n_nodes - 1);
    for (int c = 0; c < n_cuts; ++c) cuts.push_back(1 + rng() % (n_nodes - 1));
    auto s = segment_at(g, cuts);
    ASSERT_TRUE(s.is_ok());
    const TransmissionMap map = build_map(g, *s);
    for (int i = 1; i < s->size(); ++i) {
      if (g.nodes[s->begin(i)].op == OpType::kAttention || g.nodes[s->begin(i)].op == OpType::kRope)
        ++inside_attention;
      if (map.inputs[i].size() >= 3) ++multi_tensor_cuts;
    }
    Pipeline p(**m, *s, 64, iter % 2 ? &pool2 : &pool1);
    const auto got = run_steps(p, prompt, 20, g.hp.n_vocab);
    ASSERT_EQ(got.size(), ref.size());
    for (size_t step = 0; step < ref.size(); ++step) {
      ASSERT_EQ(got[step], ref[step]) << "segmentation #" << iter << " differs at step " << step;
    }
  }
  std::printf(
      "%d segmentations bit-identical over prefill + 20 decode steps; %d cuts inside attention, %d "
      "segments receiving >= 3 tensors\n",
      n_random, inside_attention, multi_tensor_cuts);
  EXPECT_GT(inside_attention, 0);
  EXPECT_GT(multi_tensor_cuts, 0);
}

TEST(Segments, RandomSegmentationsOfStories260KAreBitIdentical) {
  LL_REQUIRE_SHARED("models/stories260K.gguf");
  property_test(ll::testing::shared_path("models/stories260K.gguf"), 200, 1);
}

TEST(Segments, RandomSegmentationsOfSyntheticQwen2AreBitIdentical) {
  model::SynthSpec spec;
  spec.arch = "qwen2";
  spec.type = DType::kQ8_0;
  spec.n_layer = 3;
  property_test(synth_model("qwen2_q8", spec), 200, 2);
}

// Issue 16: every family, cut anywhere (inside its fused QKV slices, between its parallel
// attention and MLP, before its ALiBi attention), gives the whole graph's logits bit for bit.
class FamilySegments : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilySegments, RandomSegmentationsAreBitIdentical) {
  auto spec = model::synth_preset(GetParam(), "tiny");
  ASSERT_TRUE(spec.is_ok()) << spec.status().to_string();
  spec->type = DType::kQ8_0;  // packed and fused products too
  property_test(synth_model("family_" + GetParam(), *spec), 100, 16);
}

INSTANTIATE_TEST_SUITE_P(Families, FamilySegments,
                         ::testing::Values("llama", "qwen2", "gpt2", "bloom", "phi3", "falcon"),
                         [](const auto& info) { return info.param; });

TEST(Segments, MapIsExactInBothDirections) {
  model::SynthSpec spec;
  auto m = model::Model::load(synth_model("map", spec));
  ASSERT_TRUE(m.is_ok());
  const Graph& g = (*m)->graph;
  std::mt19937 rng(7);
  for (int iter = 0; iter < 300; ++iter) {
    std::vector<int> cuts;
    for (int c = 0; c < 1 + static_cast<int>(rng() % 10); ++c)
      cuts.push_back(1 + rng() % (g.nodes.size() - 1));
    auto s = segment_at(g, cuts);
    const TransmissionMap map = build_map(g, *s);
    for (int seg = 0; seg < s->size(); ++seg) {
      // What the segment's ops actually read from other segments (or the head).
      std::set<int> read_from_outside;
      std::set<int> produced_here;
      for (int n = s->begin(seg); n < s->end(seg); ++n) {
        for (int t : g.nodes[n].inputs) {
          if (!produced_here.count(t)) read_from_outside.insert(t);
        }
        produced_here.insert(g.nodes[n].output);
      }
      std::set<int> listed(map.inputs[seg].begin(), map.inputs[seg].end());
      EXPECT_EQ(listed, read_from_outside) << "segment " << seg;
      // Every listed output is consumed by a later segment or is the logits.
      for (int t : map.outputs[seg]) {
        bool consumed_later = t == g.logits;
        for (int later = seg + 1; later < s->size(); ++later) {
          for (int n = s->begin(later); n < s->end(later); ++n) {
            for (int in : g.nodes[n].inputs) consumed_later |= in == t;
          }
        }
        EXPECT_TRUE(consumed_later) << g.tensors[t].name;
        EXPECT_TRUE(produced_here.count(t));
      }
    }
    for (const MapEdge& e : map.edges) {
      for (int c : e.consumers) EXPECT_GT(c < 0 ? 1 << 30 : c, e.producer);
    }
  }
}

TEST(Segments, CostsMatchHandComputedValues) {
  model::SynthSpec
      spec;  // tiny: n_embd 64, n_ff 192, 4 heads, 2 KV heads, 2 layers, vocab 512, F32, tied
  auto m = model::Model::load(synth_model("costs", spec));
  ASSERT_TRUE(m.is_ok());
  const Graph& g = (*m)->graph;
  auto s = segment_default(
      g, 0);  // every default cut: embed | L0 attn | L0 ffn | L1 attn | L1 ffn | head
  ASSERT_EQ(s->size(), 6);
  auto c = compute_costs(g, *s, *(*m)->weights);
  ASSERT_TRUE(c.is_ok());
  const auto& seg = c->segments;
  // Embedding: the table is resident (512 x 64 x 4 B), a token reads one row (64 x 4 B).
  EXPECT_DOUBLE_EQ(seg[0].weight_bytes_resident.at(DType::kF32), 512 * 64 * 4);
  EXPECT_DOUBLE_EQ(seg[0].weight_bytes_streamed.at(DType::kF32), 64 * 4);
  EXPECT_DOUBLE_EQ(seg[0].matmul_flops, 0);
  // L0 attention: q 64x64, k 64x32, v 64x32, o 64x64 => 2*(4096+2048+2048+4096) FLOPs.
  EXPECT_DOUBLE_EQ(seg[1].matmul_flops, 2.0 * (4096 + 2048 + 2048 + 4096));
  // Weights: those four matrices plus the 64-float norm, in F32.
  EXPECT_DOUBLE_EQ(seg[1].weight_bytes_resident.at(DType::kF32),
                   4.0 * (4096 + 2048 + 2048 + 4096 + 64));
  // KV: K and V rows of n_head_kv * head_dim = 2 * 16 floats per token.
  EXPECT_DOUBLE_EQ(seg[1].kv_bytes_per_token, 2 * 32 * 4);
  EXPECT_DOUBLE_EQ(seg[1].attn_flops_per_ctx, 4.0 * 4 * 16);
  // L0 FFN: gate/up 64x192, down 192x64 => 2 * 3 * 12288 FLOPs, no KV.
  EXPECT_DOUBLE_EQ(seg[2].matmul_flops, 2.0 * 3 * 12288);
  EXPECT_DOUBLE_EQ(seg[2].kv_bytes_per_token, 0);
  // LM head (tied): 64 x 512 matmul, streams the whole table.
  EXPECT_DOUBLE_EQ(seg[5].matmul_flops, 2.0 * 64 * 512);
  EXPECT_DOUBLE_EQ(seg[5].weight_bytes_streamed.at(DType::kF32), 512 * 64 * 4 + 64 * 4);
  // Edges: tokens (4 B) head->S0; each boundary carries one 64-float residual stream (256 B).
  int n_tok = 0, n_stream = 0;
  for (const EdgeCost& e : c->edges) {
    if (e.tensor == g.tokens) {
      EXPECT_EQ(e.bytes_per_token, 4);
      ++n_tok;
    } else {
      EXPECT_EQ(e.bytes_per_token, 256);
      EXPECT_EQ(e.kind, EdgeKind::kSequential);
      ++n_stream;
    }
  }
  EXPECT_EQ(n_tok, 1);
  EXPECT_EQ(n_stream, 5);
  // Cutting between the K projection and attention sends q, k, v and the residual at once;
  // the residual skips a segment when a second cut follows.
  const int attn0 = g.find_tensor("blk.0.attn");
  const int cut_a = g.tensors[g.find_tensor("blk.0.attn_v")].producer + 1;
  const int cut_b = g.tensors[attn0].producer + 1;
  auto s2 = segment_at(g, {cut_a, cut_b});
  auto c2 = compute_costs(g, *s2, *(*m)->weights);
  int residual = 0;
  for (const EdgeCost& e : c2->edges) residual += e.kind == EdgeKind::kResidual;
  EXPECT_EQ(residual, 1);  // token_embd output: S0 -> S2 (read by attn_residual)
}

TEST(Segments, DotRendersWithGraphviz) {
  model::SynthSpec spec;
  auto m = model::Model::load(synth_model("dot", spec));
  const Graph& g = (*m)->graph;
  auto s = segment_default(g, 3);
  ASSERT_TRUE(s.is_ok());
  const std::string dot = to_dot(g, *s);
  EXPECT_NE(dot.find("cluster_2"), std::string::npos);
  if (std::system("command -v dot >/dev/null 2>&1") != 0) GTEST_SKIP() << "graphviz not installed";
  const std::string dot_path = ll::testing::temp_path("seg.dot");
  const std::string svg_path = ll::testing::temp_path("seg.svg");
  {
    std::FILE* f = std::fopen(dot_path.c_str(), "w");
    std::fwrite(dot.data(), 1, dot.size(), f);
    std::fclose(f);
  }
  const std::string cmd = "dot -Tsvg " + dot_path + " -o " + svg_path;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_GT(std::filesystem::file_size(svg_path), 1000u);
}

TEST(Segments, BadCutsAreErrors) {
  model::SynthSpec spec;
  auto m = model::Model::load(synth_model("bad", spec));
  EXPECT_FALSE(segment_at((*m)->graph, {0}).is_ok());
  EXPECT_FALSE(segment_at((*m)->graph, {100000}).is_ok());
  EXPECT_FALSE(segment_default((*m)->graph, 1000).is_ok());
}

}  // namespace
}  // namespace ll::graph
