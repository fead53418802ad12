// The three renderings of a plan report, and reading the JSON one back.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "plan/plan_json.h"
#include "plan/render.h"
#include "plan/synthetic.h"

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

TEST(PlanRender, JsonHasTheDocumentedKeys) {
  PlanReport r = report();
  auto j = plan_report_to_json(r);
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

// Equal JSON, numbers within a relative 1e-12 (times go through ms and back).
void expect_same(const nlohmann::json& a, const nlohmann::json& b, const std::string& path) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    EXPECT_NEAR(x, y, 1e-12 * std::max(std::fabs(x), std::fabs(y))) << path;
  } else if (a.is_object() && b.is_object()) {
    EXPECT_EQ(a.size(), b.size()) << path;
    for (const auto& [k, v] : a.items()) {
      ASSERT_TRUE(b.contains(k)) << path << "." << k;
      expect_same(v, b[k], path + "." + k);
    }
  } else if (a.is_array() && b.is_array()) {
    ASSERT_EQ(a.size(), b.size()) << path;
    for (size_t i = 0; i < a.size(); ++i)
      expect_same(a[i], b[i], path + "[" + std::to_string(i) + "]");
  } else {
    EXPECT_EQ(a, b) << path;
  }
}

TEST(PlanJson, RoundTripsEveryField) {
  PlanReport r = report();
  ASSERT_FALSE(r.overlap.empty());
  const nlohmann::json j = plan_report_to_json(r);
  auto back = plan_report_from_text(j.dump(2));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  expect_same(plan_report_to_json(*back), j, "");
  EXPECT_EQ(back->plan.device_of_segment, r.plan.device_of_segment);
  EXPECT_EQ(back->plan.devices[1].name, r.plan.devices[1].name);
  EXPECT_NEAR(back->plan.devices[1].compute_s, r.plan.devices[1].compute_s, 1e-15);
  EXPECT_TRUE(std::isnan(back->plan.prefill_tok_s));  // written as null
  EXPECT_EQ(back->baselines.size(), r.baselines.size());
}

TEST(PlanJson, APlanWrittenBeforePassAtNSeqsReadsOneRowPerPass) {
  nlohmann::json j = plan_report_to_json(report());
  j["plan"]["devices"][1].erase("pass_ms_at_n_seqs");
  auto back = plan_report_from_json(j);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->plan.devices[1].pass_s_at_n_seqs, back->plan.devices[1].compute_s);
  j["plan"]["devices"][1]["pass_ms_at_n_seqs"] = "slow";
  EXPECT_FALSE(plan_report_from_json(j).is_ok());
}

TEST(PlanJson, ErrorsNameTheField) {
  const nlohmann::json good = plan_report_to_json(report());
  auto err = [](const nlohmann::json& j) {
    auto r = plan_report_from_json(j);
    return r.is_ok() ? std::string() : r.status().message();
  };
  nlohmann::json j = good;
  j["plan"]["devices"][1]["segments"] = {3};
  EXPECT_EQ(err(j), "plan.devices[1].segments: expected 2 elements");
  j = good;
  j["baselines"]["even"].erase("latency_ms");
  EXPECT_EQ(err(j), "baselines.even.latency_ms: missing");
  j = good;
  j["objective"] = "fastest";
  EXPECT_EQ(err(j), "objective: unknown objective \"fastest\"");
  j = good;
  j["plan"]["links"][0]["edges"] = "two";
  EXPECT_EQ(err(j), "plan.links[0].edges: expected an integer");
  EXPECT_NE(plan_report_from_text("{\"model\": ").status().message().find("not valid JSON"),
            std::string::npos);
}

}  // namespace
}  // namespace ll::plan
