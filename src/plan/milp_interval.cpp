// The interval formulation: z[d][a][b] = 1 when device d runs exactly segments [a, b).
// Contiguity, memory, compute and everything that depends on one run alone (edges from the
// head's segment 0, the return hop) are folded into the columns; only messages between two
// runs need linearised products. See docs/plan.md "MILP".
#include <map>
#include <tuple>

#include "plan/milp_model.h"

namespace ll::plan {

LinearModel build_interval_milp(const CostModel& cost, Objective obj, const std::vector<int>* warm,
                                double cap_s) {
  const int S = cost.n_segments(), D = cost.n_devices(), h = cost.head();
  const bool lat = obj == Objective::kLatency;
  constexpr double kInf = LinearModel::kInf;
  using Terms = LinearModel::Terms;
  LinearModel lp;
  lp.time_unit = milp_time_unit(cost);
  const double k = 1.0 / lp.time_unit;

  std::vector<double> head_bytes(S, 0);  // bytes segment 0 sends to each segment
  std::vector<bool> from_head(S, false);
  for (const CostModel::Edge& e : cost.edges()) {
    if (e.from == 0) {
      head_bytes[e.to] += e.bytes;
      from_head[e.to] = true;
    }
  }
  struct Interval {
    int d, a, b, col;
    double compute, head_ser;
    bool head_msg;
  };
  std::vector<Interval> iv;
  std::map<std::tuple<int, int, int>, int> col_of;
  for (int d = 0; d < D; ++d) {
    for (int a = (d == h ? 0 : 1); a < (d == h ? 1 : S); ++a) {
      double comp = 0, need = 0, scratch = 0, hb = 0;
      bool hm = false;
      for (int b = a + 1; b <= S; ++b) {
        comp += cost.compute_s(b - 1, d);
        need += cost.mem_need(b - 1);
        scratch = std::max(scratch, cost.scratch(b - 1));
        if (!cost.fits(need + scratch, d)) break;
        hb += head_bytes[b - 1];
        hm = hm || from_head[b - 1];
        double ser = d == h ? 0 : cost.serialize_s(h, d, hb);
        const double run = comp + cost.working_set_extra_s(a, b, d);
        double c = run + ser + (b == S ? cost.hop_s(d, h, kTokenIdBytes) : 0);
        // Under a cap no run may cost more than the incumbent plan's whole objective.
        if (cap_s > 0) {
          if ((lat ? run + ser : run) > cap_s) break;  // grows with b
          if (lat ? c > cap_s
                  : ser > cap_s || (b == S && cost.serialize_s(d, h, kTokenIdBytes) > cap_s)) {
            continue;
          }
        }
        int col = lp.add_col(0, 1, lat ? c * k : 0, true);
        iv.push_back({d, a, b, col, run, ser, hm && d != h});
        col_of[{d, a, b}] = col;
      }
    }
  }
  const int T = lat ? -1 : lp.add_col(0, cap_s > 0 ? cap_s * k : kInf, 1, false);

  std::vector<Terms> cover(S), per_dev(D);
  for (const Interval& i : iv) {
    for (int s = i.a; s < i.b; ++s) cover[s].push_back({i.col, 1});
    per_dev[i.d].push_back({i.col, 1});
  }
  for (int s = 0; s < S; ++s) lp.add_row(cover[s], 1, 1);  // empty row: infeasible, as it should
  for (int d = 0; d < D; ++d) lp.add_row(per_dev[d], d == h ? 1 : -kInf, 1);

  std::vector<int> w(D * D, -1);  // message d -> e exists (pays latency once)
  std::vector<Terms> ser_terms(D * D);
  for (int d = 0; d < D; ++d) {
    for (int e = 0; e < D; ++e) {
      if (d != e && e != h && lat) w[d * D + e] = lp.add_col(0, 1, cost.latency_s(d, e) * k, false);
    }
  }
  for (int e = 0; e < D; ++e) {  // messages from the head's segment 0
    if (e == h) continue;
    Terms any{{w[h * D + e], 1}};
    for (const Interval& i : iv) {
      if (i.d != e) continue;
      if (i.head_msg) any.push_back({i.col, -1});
      ser_terms[h * D + e].push_back({i.col, i.head_ser * k});
    }
    if (lat && any.size() > 1) lp.add_row(any, 0, kInf);
  }
  // An edge s -> t between two runs: p[d][e] = [run of d holds s but not t] * [run of e holds t
  // but not s], exact through transport rows whose sums are those two interval sums.
  for (const CostModel::Edge& ed : cost.edges()) {
    if (ed.from == 0) continue;
    const int s = ed.from, t = ed.to;
    std::vector<Terms> out(D), in(D);
    for (const Interval& i : iv) {
      if (i.a <= s && s < i.b && i.b <= t) out[i.d].push_back({i.col, -1});
      if (s < i.a && i.a <= t && t < i.b) in[i.d].push_back({i.col, -1});
    }
    for (int d = 0; d < D; ++d) {
      for (int e = 0; e < D; ++e) {
        if (d == e || e == h || out[d].empty() || in[e].empty()) continue;
        double ser = cost.serialize_s(d, e, ed.bytes) * k;
        int p = lp.add_col(0, 1, lat ? ser : 0, false);
        out[d].push_back({p, 1});
        in[e].push_back({p, 1});
        ser_terms[d * D + e].push_back({p, ser});
        if (lat) lp.add_row({{w[d * D + e], 1}, {p, -1}}, 0, kInf);
      }
    }
    for (int d = 0; d < D; ++d) {
      if (!out[d].empty()) lp.add_row(out[d], 0, 0);
      if (!in[d].empty()) lp.add_row(in[d], 0, 0);
    }
  }
  if (!lat) {
    for (int d = 0; d < D; ++d) {
      Terms row{{T, 1}};
      for (const Interval& i : iv) {
        if (i.d == d) row.push_back({i.col, -i.compute * k});
      }
      lp.add_row(row, 0, kInf);
      for (int e = 0; e < D; ++e) {
        if (ser_terms[d * D + e].empty()) continue;
        Terms link{{T, 1}};
        for (const auto& [col, v] : ser_terms[d * D + e]) link.push_back({col, -v});
        lp.add_row(link, 0, kInf);
      }
    }
    Terms ret{{T, 1}};  // exactly one run ends at S: its hop back to the head
    for (const Interval& i : iv) {
      if (i.b == S && i.d != h)
        ret.push_back({i.col, -cost.serialize_s(i.d, h, kTokenIdBytes) * k});
    }
    lp.add_row(ret, 0, kInf);
  }
  if (warm) {
    for (int a = 0; a < S;) {
      int b = a;
      while (b < S && (*warm)[b] == (*warm)[a]) ++b;
      auto it = col_of.find({(*warm)[a], a, b});
      if (it != col_of.end()) lp.warm.push_back({it->second, 1.0});
      a = b;
    }
    std::vector<bool> on(lp.n_cols(), false);
    for (const auto& [c, v] : lp.warm) on[c] = true;
    for (const Interval& i : iv) {
      if (!on[i.col]) lp.warm.push_back({i.col, 0.0});
    }
  }
  lp.decode = [iv, S](const double* sol) {
    std::vector<int> dev(S, -1);
    for (const Interval& i : iv) {
      if (sol[i.col] > 0.5) {
        for (int s = i.a; s < i.b; ++s) dev[s] = i.d;
      }
    }
    return dev;
  };
  return lp;
}

}  // namespace ll::plan
