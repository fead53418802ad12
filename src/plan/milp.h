// The assignment as a mixed-integer linear program, solved with CBC. See docs/plan.md "MILP".
#pragma once

#include <vector>

#include "plan/cost.h"
#include "plan/solution.h"

namespace ll::plan {

enum class MilpFormulation {
  kInterval,    // z[d][a][b]: device d runs segments [a, b); strong, O(S^2 D) binaries
  kAssignment,  // x[s][d] with start indicators; compact, weaker relaxation
};

struct MilpOptions {
  MilpFormulation formulation = MilpFormulation::kInterval;
  double time_limit_s = 0;                       // 0: run to proven optimality
  const std::vector<int>* warm_start = nullptr;  // a feasible assignment handed to CBC
};

// False when the library was built without CBC (then solve_milp returns kUnsupported).
bool milp_available();

// Binaries the interval formulation would have (runs that fit their device's memory).
double count_interval_columns(const CostModel& cost);

// Infeasible models give kOutOfMemory. With a time limit the result may be unproven
// (Solution::proven_optimal false); without one and without a solution it is kInternal.
Result<Solution> solve_milp(const CostModel& cost, Objective objective,
                            const MilpOptions& options = {});

}  // namespace ll::plan
