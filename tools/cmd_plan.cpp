// lingualinked plan: assign a model's segments to the devices of a devices file.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "command.h"
#include "common.h"
#include "plan/devices_file.h"
#include "plan/plan_json.h"
#include "plan/render.h"
#include "runtime/plan_bridge.h"

namespace ll::tools {
namespace {

struct Opts {
  std::string model, devices, objective = "latency", svg, method = "auto";
  bool json = false;
  int ctx = 0, n_seqs = 0;
};

int run(const Opts& o) {
  auto m = model::Model::load(o.model, model::tty_progress("loading " + o.model));
  if (!m.is_ok()) return fail(m.status());
  auto df = plan::load_devices_file(o.devices);
  if (!df.is_ok()) return fail(df.status());
  auto objective = plan::objective_from_name(o.objective);
  if (!objective)
    return fail(
        invalid_argument("--objective must be latency or throughput, got '" + o.objective + "'"));
  auto method = plan::method_from_name(o.method);
  if (!method) return fail(invalid_argument("--method must be auto, milp or dp"));
  const graph::Graph& g = (*m)->graph;
  auto fine = graph::segment_default(g, 0);
  auto costs = graph::compute_costs(g, *fine, *(*m)->weights);
  if (!costs.is_ok()) return fail(costs.status());
  plan::RunConfig run = df->run.value_or(plan::RunConfig{});
  if (o.ctx > 0) run.ctx = o.ctx;
  if (o.n_seqs > 0) run.n_seqs = o.n_seqs;
  const std::string name = std::filesystem::path(o.model).stem().string();
  plan::ModelProfile mp =
      runtime::model_profile(name, g, *fine, *costs, *(*m)->weights, static_cast<int>(run.ctx));
  plan::PlanOptions po;
  po.objective = *objective;
  po.method = *method;
  auto report = plan::make_plan(mp, df->cluster, run, po);
  if (!report.is_ok()) return fail(report.status());
  std::printf("%s", o.json ? (plan::plan_report_to_json(*report).dump(2) + "\n").c_str()
                           : plan::render_text(*report).c_str());
  if (!o.svg.empty()) {
    std::ofstream f(o.svg);
    f << plan::render_svg(*report);
    if (!f) return fail(io_error("cannot write " + o.svg));
  }
  return 0;
}

const bool registered =
    register_command("plan", "Plan the assignment of segments to devices", [](CLI::App& sub) {
      auto o = std::make_shared<Opts>();
      sub.add_option("-m,--model", o->model, "GGUF model file")->required();
      sub.add_option("--devices", o->devices, "Devices file (docs/plan.md)")->required();
      sub.add_option("--objective", o->objective, "latency or throughput")->capture_default_str();
      sub.add_option("--method", o->method, "auto, milp or dp")->capture_default_str();
      sub.add_option("--ctx", o->ctx, "Context length (overrides the devices file)");
      sub.add_option("--n-seqs", o->n_seqs, "Concurrent sequences (overrides the devices file)");
      sub.add_flag("--json", o->json, "JSON output (docs/plan.md)");
      sub.add_option("--svg", o->svg, "Write an SVG picture of the plan");
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace ll::tools
