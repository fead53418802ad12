#include "graph/report.h"

#include <cstdio>
#include <sstream>

namespace ll::graph {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return fmt(u == 0 ? "%.0f" : "%.2f", b) + " " + units[u];
}

std::string segment_name(int seg) {
  return seg < 0 ? "head" : "S" + std::to_string(seg);
}

}  // namespace

std::string summary_text(const Graph& g) {
  const ModelDims& hp = g.hp;
  std::ostringstream o;
  o << "architecture " << hp.arch << ": n_layer " << hp.n_layer << ", n_embd " << hp.n_embd
    << ", n_ff " << hp.n_ff << ", n_head " << hp.n_head << ", n_head_kv " << hp.n_head_kv
    << ", head_dim " << hp.head_dim << ", n_vocab " << hp.n_vocab
    << (hp.tied_output ? ", tied output" : "") << "\n";
  o << "graph: " << g.nodes.size() << " ops, " << g.tensors.size() << " tensors, "
    << g.default_cuts.size() << " default cut points\n";
  return o.str();
}

std::string segments_text(const Graph& g, const Segmentation& s, const GraphCosts& c) {
  std::ostringstream o;
  char line[512];
  std::snprintf(line, sizeof line, "%-4s %-6s %-28s %-28s %12s %12s %10s %10s %10s\n", "seg", "ops",
                "first op", "last op", "MFLOP/tok", "weights", "stream/tok", "KV/tok",
                "scratch/row");
  o << line;
  for (int i = 0; i < s.size(); ++i) {
    const SegmentCost& sc = c.segments[i];
    double streamed = 0;
    for (auto& [t, b] : sc.weight_bytes_streamed) streamed += b;
    std::snprintf(line, sizeof line, "%-4s %-6d %-28s %-28s %12.3f %12s %10s %10s %10s\n",
                  segment_name(i).c_str(), s.end(i) - s.begin(i), sc.first_label.c_str(),
                  sc.last_label.c_str(), (sc.matmul_flops + sc.other_flops) / 1e6,
                  human_bytes(sc.weight_bytes_total()).c_str(), human_bytes(streamed).c_str(),
                  human_bytes(sc.kv_bytes_per_token).c_str(),
                  human_bytes(sc.scratch_bytes_per_row).c_str());
    o << line;
  }
  return o.str();
}

std::string map_text(const Graph& g, const Segmentation& s) {
  const TransmissionMap m = build_map(g, s);
  std::ostringstream o;
  char line[512];
  std::snprintf(line, sizeof line, "%-30s %-6s %-18s %-11s %10s\n", "tensor", "from", "to", "kind",
                "bytes/tok");
  o << line;
  for (const MapEdge& e : m.edges) {
    for (int c : e.consumers) {
      const char* kind = c < 0 ? "output"
                         : TransmissionMap::kind(e.producer, c) == EdgeKind::kSequential
                             ? "sequential"
                             : "residual";
      const int64_t bytes = e.tensor == g.tokens ? 4 : g.tensors[e.tensor].width * 4;
      std::snprintf(line, sizeof line, "%-30s %-6s %-18s %-11s %10lld\n",
                    g.tensors[e.tensor].name.c_str(), segment_name(e.producer).c_str(),
                    c < 0 ? "sampler" : segment_name(c).c_str(), kind,
                    static_cast<long long>(bytes));
      o << line;
    }
  }
  return o.str();
}

nlohmann::json to_json(const Graph& g, const Segmentation& s, const GraphCosts& c) {
  nlohmann::json j;
  const ModelDims& hp = g.hp;
  j["model"] = {
      {"arch", hp.arch},       {"n_layer", hp.n_layer},   {"n_embd", hp.n_embd},
      {"n_ff", hp.n_ff},       {"n_head", hp.n_head},     {"n_head_kv", hp.n_head_kv},
      {"n_vocab", hp.n_vocab}, {"n_ops", g.nodes.size()}, {"default_cuts", g.default_cuts}};
  j["segments"] = nlohmann::json::array();
  for (int i = 0; i < s.size(); ++i) {
    const SegmentCost& sc = c.segments[i];
    nlohmann::json w_res, w_str;
    for (auto& [t, b] : sc.weight_bytes_resident) w_res[std::string(dtype_name(t))] = b;
    for (auto& [t, b] : sc.weight_bytes_streamed) w_str[std::string(dtype_name(t))] = b;
    j["segments"].push_back({{"index", i},
                             {"first_op", s.begin(i)},
                             {"end_op", s.end(i)},
                             {"first_label", sc.first_label},
                             {"last_label", sc.last_label},
                             {"matmul_flops_per_token", sc.matmul_flops},
                             {"other_flops_per_token", sc.other_flops},
                             {"attn_flops_per_token_per_ctx", sc.attn_flops_per_ctx},
                             {"weight_bytes_resident", w_res},
                             {"weight_bytes_streamed_per_token", w_str},
                             {"kv_bytes_per_token", sc.kv_bytes_per_token},
                             {"scratch_bytes_per_row", sc.scratch_bytes_per_row}});
  }
  j["map"] = nlohmann::json::array();
  for (const EdgeCost& e : c.edges) {
    j["map"].push_back({{"tensor", g.tensors[e.tensor].name},
                        {"from", e.from},
                        {"to", e.to},
                        {"kind", e.kind == EdgeKind::kSequential ? "sequential" : "residual"},
                        {"bytes_per_token", e.bytes_per_token}});
  }
  return j;
}

std::string to_dot(const Graph& g, const Segmentation& s) {
  std::ostringstream o;
  o << "digraph lingualinked {\n  rankdir=TB;\n  node [shape=box, fontsize=10];\n";
  o << "  tokens [label=\"tokens\", shape=ellipse];\n";
  for (int seg = 0; seg < s.size(); ++seg) {
    o << "  subgraph cluster_" << seg << " {\n    label=\"segment " << seg
      << "\";\n    style=rounded;\n";
    for (int n = s.begin(seg); n < s.end(seg); ++n) {
      o << "    n" << n << " [label=\"" << g.nodes[n].label << "\\n"
        << op_name(g.nodes[n].op) << "\"];\n";
    }
    o << "  }\n";
  }
  for (int n = 0; n < static_cast<int>(g.nodes.size()); ++n) {
    for (int t : g.nodes[n].inputs) {
      const int p = g.tensors[t].producer;
      const std::string from = p < 0 ? "tokens" : "n" + std::to_string(p);
      const int ps = p < 0 ? -1 : s.segment_of(p), cs = s.segment_of(n);
      std::string style;
      if (ps != cs)
        style = cs == ps + 1 ? " [penwidth=2.5, color=blue]"
                             : " [penwidth=2.5, color=red, style=dashed]";
      o << "  " << from << " -> n" << n << style << ";\n";
    }
  }
  o << "}\n";
  return o.str();
}

}  // namespace ll::graph
