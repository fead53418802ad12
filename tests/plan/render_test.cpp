// The three renderings of a plan report.
#include <gtest/gtest.h>

#include "plan/render.h"
#include "plan/synthetic.h"

#ifdef LL_HAVE_JSON
#include <nlohmann/json.hpp>
#endif

namespace ll::plan {
namespace {

Cluster three_devices() {
  Cluster c;
  const char* names[] = {"head<1>", "mid & co", "tail"};
  for (int i = 0; i < 3; ++i) {
    DeviceProfile d;
    d.name = names[i];
    d.mem_budget_bytes = 2e9;
    d.decode_bytes_per_s.fallback = (i + 1) * 1e10;
    d.other_flops_per_s = 1e10;
    c.devices.push_back(d);
  }
  c.links.assign(3, std::vector<LinkProfile>(3, {2e-3, 5e-3, 12.5e6}));
  return c;
}

PlanReport report() {
  SyntheticModelSpec s;
  s.name = "tiny-llama";
  s.n_layer = 8;
  s.n_embd = 1024;
  s.n_ff = 2816;
  s.n_head = 16;
  s.n_head_kv = 4;
  s.residual_edge_bytes = 16;
  PlanOptions o;
  o.objective = Objective::kThroughput;
  RunConfig run;
  run.ctx = 512;
  auto r = make_plan(make_synthetic_model(s), three_devices(), run, o);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return *r;
}

TEST(PlanRender, TextNamesDevicesAndBaselines) {
  PlanReport r = report();
  std::string t = render_text(r);
  for (const DeviceUse& u : r.plan.devices) EXPECT_NE(t.find(u.name), std::string::npos);
  EXPECT_NE(t.find("baselines:"), std::string::npos);
  EXPECT_NE(t.find("plan vs even"), std::string::npos);
  EXPECT_NE(t.find("tok/s"), std::string::npos);
}

TEST(PlanRender, SvgIsOneEscapedDocument) {
  PlanReport r = report();
  std::string s = render_svg(r);
  EXPECT_EQ(s.rfind("<svg ", 0), 0u);
  EXPECT_NE(s.find("</svg>"), std::string::npos);
  EXPECT_EQ(s.find("head<1>"), std::string::npos);  // raw '<' would break the XML
  EXPECT_NE(s.find("head&lt;1&gt;"), std::string::npos);
  size_t boxes = 0;
  for (size_t p = s.find("<rect x="); p != std::string::npos; p = s.find("<rect x=", p + 1)) {
    ++boxes;
  }
  EXPECT_EQ(boxes, r.plan.devices.size());
  EXPECT_NE(s.find("token id"), std::string::npos);  // the return hop is drawn
}

#ifdef LL_HAVE_JSON
TEST(PlanRender, JsonHasTheDocumentedKeys) {
  PlanReport r = report();
  auto j = nlohmann::json::parse(render_json(r));
  EXPECT_EQ(j["objective"], "throughput");
  EXPECT_EQ(j["model"]["n_segments"], r.n_segments);
  const auto& p = j["plan"];
  for (const char* k :
       {"objective", "objective_s", "latency_ms", "bottleneck_ms", "single_stream_tok_s",
        "pipelined_tok_s", "pipelined_tok_s_at_n_seqs", "prefill_tok_s", "memory_ok", "memory_note",
        "assignment", "devices", "unused_devices", "links", "overlap"}) {
    EXPECT_TRUE(p.contains(k)) << k;
  }
  EXPECT_NEAR(p["pipelined_tok_s"].get<double>(), r.plan.pipelined_tok_s,
              1e-8 * r.plan.pipelined_tok_s);
  EXPECT_EQ(p["devices"].size(), r.plan.devices.size());
  const auto& d0 = p["devices"][0];
  for (const char* k :
       {"device", "name", "head", "segments", "labels", "layers", "n_segments", "mem_bytes",
        "budget_bytes", "mem_ok", "compute_ms", "prefill_ms_per_token", "weight_bytes_per_token"}) {
    EXPECT_TRUE(d0.contains(k)) << k;
  }
  EXPECT_EQ(d0["name"], "head<1>");
  ASSERT_FALSE(p["links"].empty());
  for (const char* k : {"from", "to", "from_name", "to_name", "kind", "edges", "bytes_per_token",
                        "hop_ms", "serialize_ms"}) {
    EXPECT_TRUE(p["links"][0].contains(k)) << k;
  }
  EXPECT_TRUE(j["baselines"].contains("even"));
  EXPECT_TRUE(j["baselines"].contains("memory"));
  EXPECT_TRUE(j["solver"].contains("proven_optimal"));
  EXPECT_TRUE(p["prefill_tok_s"].is_null());  // no device has prefill rates
}
#endif

}  // namespace
}  // namespace ll::plan
