// Internal: the two MILP formulations as plain sparse models, independent of the solver.
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "plan/cost.h"

namespace ll::plan {

class LinearModel {
 public:
  static constexpr double kInf = 1e30;
  using Terms = std::vector<std::pair<int, double>>;

  int add_col(double lb, double ub, double obj, bool integer);
  void add_row(const Terms& terms, double lo, double hi);
  int n_cols() const { return static_cast<int>(lb.size()); }
  int n_rows() const { return static_cast<int>(row_lo.size()); }
  // Column-major copy of the matrix (CSC), as LP solvers take it.
  void to_csc(std::vector<int>* start, std::vector<int>* index, std::vector<double>* value) const;

  std::vector<double> lb, ub, obj, row_lo, row_hi;
  std::vector<bool> integer;
  struct Entry {
    int col, row;
    double v;
  };
  std::vector<Entry> entries;

  // Objective and time rows are in units of `time_unit` seconds, so that the solver's
  // absolute tolerances mean the same for fast and slow models.
  double time_unit = 1;
  std::vector<std::pair<int, double>> warm;               // a feasible start, if any
  std::function<std::vector<int>(const double*)> decode;  // solution -> device per segment
};

// Typical segment time: the unit both formulations measure time in.
double milp_time_unit(const CostModel& cost);

// x[s][d] binary with start indicators for contiguity (the textbook form; compact but weak).
LinearModel build_assignment_milp(const CostModel& cost, Objective obj,
                                  const std::vector<int>* warm);
// z[d][a][b] binary: device d runs exactly segments [a, b) (strong; O(S^2 D) columns).
// cap_s > 0: only plans with objective <= cap_s are wanted, so runs that alone exceed it are
// dropped. For the bottleneck objective that removes most long runs and closes the LP gap.
LinearModel build_interval_milp(const CostModel& cost, Objective obj, const std::vector<int>* warm,
                                double cap_s = 0);

}  // namespace ll::plan
