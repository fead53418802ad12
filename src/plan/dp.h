// Dynamic programming over contiguous runs: the test oracle for the MILP and the solver used when
// CBC is absent. See docs/plan.md "Dynamic program".
#pragma once

#include <vector>

#include "plan/cost.h"
#include "plan/solution.h"

namespace ll::plan {

struct DpOptions {
  // Estimated inner-loop steps above which solve_dp gives up exactness and searches device orders.
  double max_exact_work = 6e7;
  size_t max_exact_states = 1000000;  // ... and gives up on exactness past this many states
  double time_limit_s = 1.0;          // for the order search when not exact
};

// Groups of interchangeable devices (same rates, budget and links); the head is alone, first.
std::vector<std::vector<int>> device_classes(const CostModel& cost);

// Estimated steps of solve_dp_exact; compare with DpOptions::max_exact_work.
double estimate_exact_dp_work(const CostModel& cost);

// Exact over all device subsets and orders; interchangeable devices are merged so the state is
// (segments done, how many of each class used, devices of pending edge sources). kUnsupported
// if more than max_states (0 = no limit) partial plans would be stored.
Result<Solution> solve_dp_exact(const CostModel& cost, Objective objective, size_t max_states = 0);

// Exact for one ring order (order[0] must be the head); any device may be skipped.
Result<Solution> solve_dp_order(const CostModel& cost, Objective objective,
                                const std::vector<int>& order);

// solve_dp_exact when affordable, else the best of several orders plus swap local search.
Result<Solution> solve_dp(const CostModel& cost, Objective objective,
                          const DpOptions& options = {});

}  // namespace ll::plan
