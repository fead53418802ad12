// What every solver returns.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace ll::plan {

struct Solution {
  std::vector<int> device_of_segment;  // one device index per segment
  double objective_s = 0;              // as evaluate() scores it
  // Optimal over every contiguous assignment (all device subsets and orders).
  bool proven_optimal = false;
  double lower_bound_s = std::numeric_limits<double>::quiet_NaN();  // MILP bound, when known
  std::string method;  // "dp-exact", "dp-order", "milp", "dp-order+milp"
  double solve_s = 0;  // wall time
  std::string note;    // why the result is or isn't exact
};

}  // namespace ll::plan
