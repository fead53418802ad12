// lingualinked inspect: the graph, its segments with costs, and the data transmission map.
#include <cstdio>
#include <fstream>

#include "command.h"
#include "common.h"
#include "graph/report.h"

namespace ll::tools {
namespace {

struct Opts {
  std::string model, cuts, dot;
  int segments = 0;
  bool json = false;
};

int run(const Opts& o) {
  auto m = model::Model::load(o.model);
  if (!m.is_ok()) return fail(m.status());
  const graph::Graph& g = (*m)->graph;
  Result<graph::Segmentation> s = graph::Segmentation{};
  if (!o.cuts.empty()) {
    auto ids = parse_ids(o.cuts);
    if (!ids.is_ok()) return fail(ids.status());
    s = graph::segment_at(g, std::vector<int>(ids->begin(), ids->end()));
  } else {
    s = graph::segment_default(g, o.segments);
  }
  if (!s.is_ok()) return fail(s.status());
  auto costs = graph::compute_costs(g, *s, *(*m)->weights);
  if (!costs.is_ok()) return fail(costs.status());
  if (o.json) {
    std::printf("%s\n", graph::to_json(g, *s, *costs).dump(2).c_str());
  } else {
    std::printf("%s\n%s\n%s", graph::summary_text(g).c_str(),
                graph::segments_text(g, *s, *costs).c_str(), graph::map_text(g, *s).c_str());
  }
  if (!o.dot.empty()) {
    std::ofstream f(o.dot);
    f << graph::to_dot(g, *s);
    if (!f) return fail(io_error("cannot write " + o.dot));
  }
  return 0;
}

const bool registered =
    register_command("inspect", "Show the graph, segments, costs and map", [](CLI::App& sub) {
      auto o = std::make_shared<Opts>();
      sub.add_option("-m,--model", o->model, "GGUF model file")->required();
      auto* seg = sub.add_option("--segments", o->segments,
                                 "Number of segments (default: every default cut)");
      sub.add_option("--cuts", o->cuts, "Explicit cut op indices, e.g. 5,12,30")->excludes(seg);
      sub.add_flag("--json", o->json, "JSON output");
      sub.add_option("--dot", o->dot, "Write a Graphviz file of the segmented graph");
      return [o] { return run(*o); };
    });

}  // namespace
}  // namespace ll::tools
