#include "plan/milp.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "plan/milp_model.h"

#ifdef LL_HAVE_CBC
#include <coin/Cbc_C_Interface.h>
#endif

namespace ll::plan {

double count_interval_columns(const CostModel& cost) {
  double n = 0;
  for (int d = 0; d < cost.n_devices(); ++d) {
    const bool head = d == cost.head();
    for (int a = head ? 0 : 1; a < (head ? 1 : cost.n_segments()); ++a) {
      double need = 0, scratch = 0;
      for (int b = a + 1; b <= cost.n_segments(); ++b) {
        need += cost.mem_need(b - 1);
        scratch = std::max(scratch, cost.scratch(b - 1));
        if (!cost.fits(need + scratch, d)) break;
        n += 1;
      }
    }
  }
  return n;
}

#ifndef LL_HAVE_CBC

bool milp_available() {
  return false;
}

Result<Solution> solve_milp(const CostModel&, Objective, const MilpOptions&) {
  return unsupported("built without CBC: the MILP solver is unavailable (use the DP)");
}

#else

bool milp_available() {
  return true;
}

namespace {

using Clock = std::chrono::steady_clock;

struct CbcRun {
  bool solved = false;  // has a feasible solution
  bool proven_optimal = false;
  bool proven_infeasible = false;
  std::vector<int> assignment;
  double bound_s = 0;
};

CbcRun run_cbc(const LinearModel& lp, double time_limit_s, int max_solutions) {
  std::vector<int> start, index;
  std::vector<double> value;
  lp.to_csc(&start, &index, &value);
  std::vector<CoinBigIndex> big_start(start.begin(), start.end());
  Cbc_Model* m = Cbc_newModel();
  Cbc_loadProblem(m, lp.n_cols(), lp.n_rows(), big_start.data(), index.data(), value.data(),
                  lp.lb.data(), lp.ub.data(), lp.obj.data(), lp.row_lo.data(), lp.row_hi.data());
  for (int c = 0; c < lp.n_cols(); ++c) {
    if (lp.integer[c]) Cbc_setInteger(m, c);
  }
  Cbc_setObjSense(m, 1);
  Cbc_setLogLevel(m, 0);
  Cbc_setParameter(m, "slogLevel", "0");
  Cbc_setParameter(m, "logLevel", "0");
  // Objectives are O(segments) in time units; these gaps sit far below the 1e-6 we promise.
  Cbc_setAllowableGap(m, 1e-9);
  Cbc_setAllowableFractionGap(m, 1e-10);
  if (time_limit_s > 0) Cbc_setMaximumSeconds(m, time_limit_s);
  if (max_solutions > 0) Cbc_setMaximumSolutions(m, max_solutions);
  if (!lp.warm.empty()) {
    std::vector<int> idx;
    std::vector<double> val;
    for (const auto& [c, v] : lp.warm) {
      idx.push_back(c);
      val.push_back(v);
    }
    Cbc_setMIPStartI(m, static_cast<int>(idx.size()), idx.data(), val.data());
  }
  Cbc_solve(m);
  CbcRun r;
  const double* best = Cbc_bestSolution(m);
  r.proven_infeasible = !best && Cbc_isProvenInfeasible(m);
  if (best) {
    r.solved = true;
    r.assignment = lp.decode(best);
    r.proven_optimal = Cbc_isProvenOptimal(m);
    r.bound_s = Cbc_getBestPossibleObjValue(m) * lp.time_unit;
  }
  Cbc_deleteModel(m);
  return r;
}

}  // namespace

// Any feasible plan caps the objective, and a capped interval model is much tighter (runs
// that alone exceed the cap vanish). So: find a plan (the warm start, or CBC's first), then
// re-solve under the cap of the best plan so far until CBC proves optimality or time runs out.
Result<Solution> solve_milp(const CostModel& cost, Objective obj, const MilpOptions& options) {
  const auto t0 = Clock::now();
  auto left = [&]() -> double {
    if (options.time_limit_s <= 0) return 0;  // no limit
    double l = options.time_limit_s - std::chrono::duration<double>(Clock::now() - t0).count();
    return std::max(l, 0.01);
  };
  const int S = cost.n_segments();
  const bool interval = options.formulation == MilpFormulation::kInterval;
  // The assignment model has no working-set term (plan/cost.h): where the term applies, its
  // optimum is not proven one.
  bool has_term = false;
  for (int d = 0; d < cost.n_devices(); ++d)
    has_term = has_term || cost.working_set_extra_s(0, S, d) > 0;
  const bool exact_model = interval || !has_term;
  auto build = [&](const std::vector<int>* warm, double cap) {
    return interval ? build_interval_milp(cost, obj, warm, cap)
                    : build_assignment_milp(cost, obj, warm);
  };
  Solution sol;
  sol.method = "milp";
  std::vector<int> inc;
  double inc_val = 0;
  if (options.warm_start && static_cast<int>(options.warm_start->size()) == S) {
    Evaluation ev = evaluate(cost, *options.warm_start);
    if (ev.invalid.empty() && ev.memory_ok) {
      inc = *options.warm_start;
      inc_val = ev.objective(obj);
    }
  }
  if (!interval) {  // caps gain nothing here: one run, from the warm start if there is one
    CbcRun r = run_cbc(build(inc.empty() ? nullptr : &inc, 0), left(), 0);
    if (r.proven_infeasible)
      return out_of_memory("no contiguous assignment fits the memory budgets");
    if (!r.solved && inc.empty()) {
      return internal_error("CBC stopped without a feasible plan (time limit too short?)");
    }
    if (r.solved) {
      double v = evaluate(cost, r.assignment).objective(obj);
      if (inc.empty() || v < inc_val) {
        inc = r.assignment;
        inc_val = v;
      }
      sol.proven_optimal = r.proven_optimal && exact_model;
      sol.lower_bound_s = r.bound_s;
    }
  } else if (inc.empty()) {
    // The first plan CBC finds is enough to start capping from.
    CbcRun r = run_cbc(build(nullptr, 0), left(), 1);
    if (r.proven_infeasible)
      return out_of_memory("no contiguous assignment fits the memory budgets");
    if (!r.solved)
      return internal_error("CBC stopped without a feasible plan (time limit too short?)");
    inc = r.assignment;
    inc_val = evaluate(cost, inc).objective(obj);
    sol.proven_optimal = r.proven_optimal && exact_model;
    sol.lower_bound_s = r.bound_s;
  }
  // Rounds get time slices, so that a better plan found early tightens the cap (and with it
  // the whole model) instead of CBC grinding on the looser one.
  double slice = options.time_limit_s > 0 ? std::max(0.5, 0.3 * left()) : 2.0;
  for (int round = 0; interval && !sol.proven_optimal && round < 30; ++round) {
    if (options.time_limit_s > 0 && left() <= 0.02) break;
    double t = options.time_limit_s > 0 ? std::min(left(), slice) : slice;
    CbcRun r = run_cbc(build(&inc, inc_val * (1 + 1e-9)), t, 0);
    if (!r.solved) {
      slice *= 2;
      continue;
    }
    double v = evaluate(cost, r.assignment).objective(obj);
    sol.lower_bound_s = r.bound_s;
    if (v < inc_val) {
      inc = r.assignment;
      inc_val = v;
    } else {
      slice *= 2;
    }
    sol.proven_optimal = r.proven_optimal;
  }
  Evaluation ev = evaluate(cost, inc);
  if (!ev.invalid.empty()) return internal_error("MILP returned an invalid plan: " + ev.invalid);
  sol.device_of_segment = std::move(inc);
  sol.objective_s = ev.objective(obj);
  sol.solve_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!exact_model) {
    sol.note = "the assignment formulation leaves out the working-set term; not proven optimal";
  } else if (!sol.proven_optimal) {
    sol.note = "CBC stopped at its time limit; not proven optimal";
  }
  return sol;
}

#endif

}  // namespace ll::plan
