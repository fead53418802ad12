// The assignment formulation: x[s][d] binary, contiguity via start indicators, messages via
// transport-linearised products. See docs/plan.md "MILP".
#include <algorithm>

#include "plan/milp_model.h"

namespace ll::plan {

int LinearModel::add_col(double l, double u, double o, bool is_int) {
  lb.push_back(l);
  ub.push_back(u);
  obj.push_back(o);
  integer.push_back(is_int);
  return n_cols() - 1;
}

void LinearModel::add_row(const Terms& terms, double lo, double hi) {
  const int r = n_rows();
  for (const auto& [c, v] : terms) {
    if (v != 0) entries.push_back({c, r, v});
  }
  row_lo.push_back(lo);
  row_hi.push_back(hi);
}

void LinearModel::to_csc(std::vector<int>* start, std::vector<int>* index,
                         std::vector<double>* value) const {
  std::vector<Entry> e = entries;
  std::stable_sort(e.begin(), e.end(),
                   [](const Entry& a, const Entry& b) { return a.col < b.col; });
  start->assign(n_cols() + 1, 0);
  index->clear();
  value->clear();
  for (const Entry& x : e) {
    (*start)[x.col + 1]++;
    index->push_back(x.row);
    value->push_back(x.v);
  }
  for (int c = 0; c < n_cols(); ++c) (*start)[c + 1] += (*start)[c];
}

double milp_time_unit(const CostModel& cost) {
  double ref = 0;
  for (int s = 0; s < cost.n_segments(); ++s) {
    double best = cost.compute_s(s, 0);
    for (int d = 1; d < cost.n_devices(); ++d) best = std::min(best, cost.compute_s(s, d));
    ref += best;
  }
  return ref > 0 ? ref / cost.n_segments() : 1.0;
}

LinearModel build_assignment_milp(const CostModel& cost, Objective obj,
                                  const std::vector<int>* warm) {
  const int S = cost.n_segments(), D = cost.n_devices(), h = cost.head();
  const bool lat = obj == Objective::kLatency;
  constexpr double kInf = LinearModel::kInf;
  LinearModel lp;
  lp.time_unit = milp_time_unit(cost);
  const double k = 1.0 / lp.time_unit;

  // Latency terms that sit on x alone: compute, serialisation of edges leaving segment 0 (the
  // head sends them, so no product is needed) and the tail -> head token id hop.
  std::vector<double> x_obj(S * D, 0);
  if (lat) {
    for (int s = 0; s < S; ++s) {
      for (int d = 0; d < D; ++d) x_obj[s * D + d] = cost.compute_s(s, d);
    }
    for (const CostModel::Edge& ed : cost.edges()) {
      if (ed.from != 0) continue;
      for (int e = 0; e < D; ++e) x_obj[ed.to * D + e] += cost.serialize_s(h, e, ed.bytes);
    }
    for (int d = 0; d < D; ++d) x_obj[(S - 1) * D + d] += cost.hop_s(d, h, kTokenIdBytes);
  }
  std::vector<int> x(S * D);
  for (int s = 0; s < S; ++s) {
    for (int d = 0; d < D; ++d) {
      double lo = (s == 0 && d == h) ? 1 : 0, hi = (s == 0 && d != h) ? 0 : 1;
      x[s * D + d] = lp.add_col(lo, hi, x_obj[s * D + d] * k, true);
    }
  }
  auto X = [&](int s, int d) { return x[s * D + d]; };
  const int T = lat ? -1 : lp.add_col(0, kInf, 1, false);

  for (int s = 0; s < S; ++s) {  // each segment on exactly one device
    LinearModel::Terms row;
    for (int d = 0; d < D; ++d) row.push_back({X(s, d), 1});
    lp.add_row(row, 1, 1);
  }
  // Contiguity: a run starts at most once per device; start >= x[s] - x[s-1] may be continuous.
  for (int d = 0; d < D; ++d) {
    LinearModel::Terms once{{X(0, d), 1}};
    for (int s = 1; s < S; ++s) {
      int st = lp.add_col(0, 1, 0, false);
      lp.add_row({{st, 1}, {X(s, d), -1}, {X(s - 1, d), 1}}, 0, kInf);
      once.push_back({st, 1});
    }
    lp.add_row(once, -kInf, 1);
  }
  // Memory in units of the budget: needs + the largest scratch (m) <= 1.
  for (int d = 0; d < D; ++d) {
    const double inv_b = 1.0 / cost.budget(d);
    int m = lp.add_col(0, kInf, 0, false);
    LinearModel::Terms row{{m, 1}};
    for (int s = 0; s < S; ++s) {
      row.push_back({X(s, d), cost.mem_need(s) * inv_b});
      if (cost.scratch(s) > 0) lp.add_row({{m, 1}, {X(s, d), -cost.scratch(s) * inv_b}}, 0, kInf);
    }
    lp.add_row(row, -kInf, 1);
  }
  // y[d][e] = x[from][d] * x[to][e], exact through transport rows (its row and column sums are
  // the two assignment rows). w[d][e] >= each y[d][e]: a message d -> e pays latency once.
  std::vector<int> w(D * D, -1);
  std::vector<LinearModel::Terms> ser_terms(D * D);  // link d -> e serialisation, per term
  for (int d = 0; d < D; ++d) {
    for (int e = 0; e < D; ++e) {
      if (d != e && lat) w[d * D + e] = lp.add_col(0, 1, cost.latency_s(d, e) * k, false);
    }
  }
  for (const CostModel::Edge& ed : cost.edges()) {
    if (ed.from == 0) {
      for (int e = 0; e < D; ++e) {
        if (e == h) continue;
        ser_terms[h * D + e].push_back({X(ed.to, e), cost.serialize_s(h, e, ed.bytes) * k});
        if (lat) lp.add_row({{w[h * D + e], 1}, {X(ed.to, e), -1}}, 0, kInf);
      }
      continue;
    }
    std::vector<int> y(D * D);
    for (int d = 0; d < D; ++d) {
      for (int e = 0; e < D; ++e) {
        double ser = cost.serialize_s(d, e, ed.bytes) * k;
        y[d * D + e] = lp.add_col(0, 1, lat ? ser : 0, false);
        if (d != e) {
          ser_terms[d * D + e].push_back({y[d * D + e], ser});
          if (lat) lp.add_row({{w[d * D + e], 1}, {y[d * D + e], -1}}, 0, kInf);
        }
      }
    }
    for (int d = 0; d < D; ++d) {
      LinearModel::Terms out{{X(ed.from, d), -1}}, in{{X(ed.to, d), -1}};
      for (int e = 0; e < D; ++e) {
        out.push_back({y[d * D + e], 1});
        in.push_back({y[e * D + d], 1});
      }
      lp.add_row(out, 0, 0);
      lp.add_row(in, 0, 0);
    }
  }
  if (!lat) {  // T >= every device's compute, every link's serialisation, the return hop
    for (int d = 0; d < D; ++d) {
      LinearModel::Terms row{{T, 1}};
      for (int s = 0; s < S; ++s) row.push_back({X(s, d), -cost.compute_s(s, d) * k});
      lp.add_row(row, 0, kInf);
      for (int e = 0; e < D; ++e) {
        if (d == e || ser_terms[d * D + e].empty()) continue;
        LinearModel::Terms link{{T, 1}};
        for (const auto& [col, v] : ser_terms[d * D + e]) link.push_back({col, -v});
        lp.add_row(link, 0, kInf);
      }
      if (d != h) {
        lp.add_row({{T, 1}, {X(S - 1, d), -cost.serialize_s(d, h, kTokenIdBytes) * k}}, 0, kInf);
      }
    }
  }
  if (warm) {
    for (int s = 0; s < S; ++s) {
      for (int d = 0; d < D; ++d) lp.warm.push_back({X(s, d), (*warm)[s] == d ? 1.0 : 0.0});
    }
  }
  lp.decode = [x, S, D](const double* sol) {
    std::vector<int> dev(S, 0);
    for (int s = 0; s < S; ++s) {
      for (int d = 1; d < D; ++d) {
        if (sol[x[s * D + d]] > sol[x[s * D + dev[s]]]) dev[s] = d;
      }
    }
    return dev;
  };
  return lp;
}

}  // namespace ll::plan
