#include "plan/render.h"

#include <cmath>
#include <cstdio>
#include <string>

#include "plan/units.h"

namespace ll::plan {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string pad(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

std::string tok_s(double v) {
  return std::isfinite(v) && v > 0 ? fmt("%.2f", v) : "n/a";
}

// ---------------------------------------------------------------- SVG

std::string xml(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

std::string text(double x, double y, const std::string& s, const char* extra = "") {
  return "<text x=\"" + fmt("%.0f", x) + "\" y=\"" + fmt("%.0f", y) + "\" " + extra + ">" + xml(s) +
         "</text>\n";
}

std::string link_label(const LinkUse& l) {
  return format_bytes(l.bytes_per_token) + "/tok, " + format_ms(l.hop_s);
}

}  // namespace

std::string render_text(const PlanReport& r) {
  std::string o;
  o += "model " + r.model_name + ": " + std::to_string(r.n_layer) + " layers, " +
       fmt("%.2fB", r.n_params / 1e9) + " params, " + std::to_string(r.n_segments) + " segments\n";
  o += "run: ctx " + std::to_string(r.run.ctx) + ", " + std::to_string(r.run.n_seqs) +
       " seq(s), mem_safety " + fmt("%.2f", r.run.mem_safety) + "; objective " +
       std::string(objective_name(r.objective)) + "\n";
  o += "solver: " + r.solution.method + (r.solution.proven_optimal ? ", proven optimal" : "") +
       ", " + fmt("%.1f ms", r.solution.solve_s * 1e3) +
       (r.solution.note.empty() ? "" : " (" + r.solution.note + ")") + "\n\n";
  auto head = [&](const PlanSummary& p) {
    return p.name + ": single-stream " + tok_s(p.single_stream_tok_s) + " tok/s (" +
           format_ms(p.latency_s) + "/token), pipelined " + tok_s(p.pipelined_tok_s) +
           " tok/s (bottleneck " + format_ms(p.bottleneck_s) + "), memory " +
           (p.memory_ok ? "ok" : "OVER BUDGET") + "\n";
  };
  o += head(r.plan);
  o += "  " + pad("device", 16) + pad("segments", 34) + pad("layers", 9) +
       pad("memory / usable", 24) + "compute\n";
  for (const DeviceUse& u : r.plan.devices) {
    o += "  " + pad(u.name + (u.head ? "*" : ""), 16) +
         pad(std::to_string(u.first_segment) + ".." + std::to_string(u.last_segment) + " (" +
                 u.first_label + ".." + u.last_label + ")",
             34) +
         pad(std::to_string(u.layer_first) + "-" + std::to_string(u.layer_last), 9) +
         pad(format_bytes(u.mem_bytes) + " / " + format_bytes(u.budget_bytes) +
                 (u.mem_ok ? "" : " !"),
             24) +
         format_ms(u.compute_s) + "\n";
  }
  for (const LinkUse& l : r.plan.links) {
    o += "  " + l.from_name + " -> " + l.to_name + " [" + l.kind +
         "]: " + format_bytes(l.bytes_per_token) + "/token, " + format_ms(l.hop_s) + "\n";
  }
  if (!r.plan.unused_devices.empty()) {
    o += "  unused:";
    for (const std::string& n : r.plan.unused_devices) o += " " + n;
    o += "\n";
  }
  if (!r.overlap.empty()) {
    o += "overlap (preloaded for rebalancing):\n";
    auto name_of = [&](int device) {
      for (const DeviceUse& u : r.plan.devices) {
        if (u.device == device) return u.name;
      }
      return std::to_string(device);
    };
    for (const OverlapEntry& e : r.overlap) {
      o += "  " + e.label + " (runs on " + name_of(e.owner) + ") also on " + name_of(e.preload_on) +
           ", " + format_bytes(e.bytes) + "\n";
    }
  }
  o += "baselines:\n";
  for (const PlanSummary& b : r.baselines) {
    o += "  " + head(b);
    if (!b.memory_ok) o += "    " + b.memory_note + "\n";
    double rs = r.plan.single_stream_tok_s / b.single_stream_tok_s;
    double rp = r.plan.pipelined_tok_s / b.pipelined_tok_s;
    o += "    plan vs " + b.name + ": single-stream x" + fmt("%.2f", rs) + ", pipelined x" +
         fmt("%.2f", rp) + "\n";
  }
  return o;
}

std::string render_svg(const PlanReport& r) {
  const PlanSummary& p = r.plan;
  const double box_w = 230, box_h = 118, gap = 110, x0 = 30, y0 = 150;
  const int n = static_cast<int>(p.devices.size());
  const double width = x0 * 2 + n * box_w + (n - 1) * gap;
  const double height = y0 + box_h + 120;
  auto x_of = [&](int device) {
    for (int i = 0; i < n; ++i) {
      if (p.devices[i].device == device) return x0 + i * (box_w + gap);
    }
    return x0;
  };
  std::string o;
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", width) + "\" height=\"" +
       fmt("%.0f", height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" "
       "markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" "
       "fill=\"#333\"/></marker></defs>\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += text(x0, 24,
            r.model_name + " - objective " + std::string(objective_name(r.objective)) + " (" +
                r.solution.method + ")",
            "font-size=\"15\" font-weight=\"bold\"");
  o += text(x0, 44,
            "single-stream " + tok_s(p.single_stream_tok_s) + " tok/s, pipelined " +
                tok_s(p.pipelined_tok_s) + " tok/s");
  for (int i = 0; i < n; ++i) {
    const DeviceUse& u = p.devices[i];
    double x = x0 + i * (box_w + gap);
    o += "<rect x=\"" + fmt("%.0f", x) + "\" y=\"" + fmt("%.0f", y0) + "\" width=\"" +
         fmt("%.0f", box_w) + "\" height=\"" + fmt("%.0f", box_h) + "\" rx=\"8\" fill=\"" +
         (u.head ? "#e8f0ff" : "#f4f4f4") + "\" stroke=\"" + (u.mem_ok ? "#333" : "#d00") +
         "\" stroke-width=\"" + (u.mem_ok ? "1.5" : "3") + "\"/>\n";
    double tx = x + 10, ty = y0 + 20;
    o += text(tx, ty, u.name + (u.head ? " (head)" : ""), "font-weight=\"bold\"");
    o +=
        text(tx, ty + 19,
             "segments " + std::to_string(u.first_segment) + ".." + std::to_string(u.last_segment));
    o += text(tx, ty + 36, u.first_label + " .. " + u.last_label);
    o += text(tx, ty + 53,
              "layers " + std::to_string(u.layer_first) + "-" + std::to_string(u.layer_last));
    o += text(tx, ty + 70, format_bytes(u.mem_bytes) + " / " + format_bytes(u.budget_bytes),
              u.mem_ok ? "" : "fill=\"#d00\"");
    o += text(tx, ty + 87, "compute " + format_ms(u.compute_s) + "/token");
  }
  int residual_i = 0;
  for (const LinkUse& l : p.links) {
    double xa = x_of(l.from), xb = x_of(l.to);
    if (l.kind == "return") {  // below the boxes, back to the head
      double y = y0 + box_h, ax = xa + box_w / 2, bx = xb + box_w / 2;
      o += "<path d=\"M" + fmt("%.0f", ax) + "," + fmt("%.0f", y) + " C" + fmt("%.0f", ax) + "," +
           fmt("%.0f", y + 80) + " " + fmt("%.0f", bx) + "," + fmt("%.0f", y + 80) + " " +
           fmt("%.0f", bx) + "," + fmt("%.0f", y + 2) +
           "\" fill=\"none\" stroke=\"#777\" stroke-dasharray=\"5,4\" "
           "marker-end=\"url(#arrow)\"/>\n";
      o += text((ax + bx) / 2 - 60, y + 75, "token id: " + link_label(l), "fill=\"#555\"");
    } else if (l.kind == "sequential" && xb > xa && xb - xa < box_w + gap + 1) {
      double y = y0 + box_h / 2;
      o += "<line x1=\"" + fmt("%.0f", xa + box_w) + "\" y1=\"" + fmt("%.0f", y) + "\" x2=\"" +
           fmt("%.0f", xb - 2) + "\" y2=\"" + fmt("%.0f", y) +
           "\" stroke=\"#333\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>\n";
      o += text(xa + box_w + 4, y - 22, format_bytes(l.bytes_per_token) + "/tok",
                "font-size=\"11\"");
      o += text(xa + box_w + 4, y - 8, format_ms(l.hop_s), "font-size=\"11\"");
    } else {  // residual: an arc above the boxes on its own direct link
      double ax = xa + box_w / 2, bx = xb + box_w / 2, lift = 40 + 24 * (residual_i++ % 4);
      o += "<path d=\"M" + fmt("%.0f", ax) + "," + fmt("%.0f", y0) + " C" + fmt("%.0f", ax) + "," +
           fmt("%.0f", y0 - lift) + " " + fmt("%.0f", bx) + "," + fmt("%.0f", y0 - lift) + " " +
           fmt("%.0f", bx) + "," + fmt("%.0f", y0 - 2) +
           "\" fill=\"none\" stroke=\"#2a6\" marker-end=\"url(#arrow)\"/>\n";
      // A cubic with both controls at -lift peaks at 3/4 of it: label just above the peak.
      o += text((ax + bx) / 2, y0 - 0.75 * lift - 4, link_label(l),
                "font-size=\"11\" fill=\"#2a6\" text-anchor=\"middle\"");
    }
  }
  o += "</svg>\n";
  return o;
}

}  // namespace ll::plan
