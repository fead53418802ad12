// solve_dp: the exact DP when affordable, else a search over ring orders, each solved exactly
// by solve_dp_order.
#include <algorithm>
#include <chrono>
#include <limits>

#include "plan/dp.h"

namespace ll::plan {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Result<Solution> solve_dp(const CostModel& cost, Objective obj, const DpOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  if (estimate_exact_dp_work(cost) <= options.max_exact_work) {
    // The estimate ignores edge sources pending across boundaries; the state cap catches
    // models whose long residual edges multiply the states.
    auto exact = solve_dp_exact(cost, obj, options.max_exact_states);
    if (exact.is_ok() || exact.status().code() != StatusCode::kUnsupported) return exact;
  }

  // Too many devices for every order: try a few natural orders, then improve by swaps.
  const int D = cost.n_devices(), h = cost.head();
  std::vector<int> others;
  for (int d = 0; d < D; ++d) {
    if (d != h) others.push_back(d);
  }
  std::vector<double> speed(D, 0);  // whole-model decode time: lower is faster
  for (int d = 0; d < D; ++d) {
    for (int s = 0; s < cost.n_segments(); ++s) speed[d] += cost.compute_s(s, d);
    speed[d] += cost.working_set_extra_s(0, cost.n_segments(), d);
  }
  auto with_head = [&](std::vector<int> rest) {
    rest.insert(rest.begin(), h);
    return rest;
  };
  std::vector<std::vector<int>> cands{with_head(others)};
  auto fast = others;
  std::stable_sort(fast.begin(), fast.end(), [&](int a, int b) { return speed[a] < speed[b]; });
  cands.push_back(with_head(fast));
  cands.push_back(with_head(std::vector<int>(fast.rbegin(), fast.rend())));
  auto mem = others;
  std::stable_sort(mem.begin(), mem.end(),
                   [&](int a, int b) { return cost.budget(a) > cost.budget(b); });
  cands.push_back(with_head(mem));
  std::vector<int> nn{h};
  std::vector<bool> used(D, false);
  used[h] = true;
  for (int i = 1; i < D; ++i) {
    int best = -1;
    for (int d : others) {
      if (used[d]) continue;
      if (best < 0 || cost.latency_s(nn.back(), d) < cost.latency_s(nn.back(), best)) best = d;
    }
    used[best] = true;
    nn.push_back(best);
  }
  cands.push_back(nn);

  Solution best;
  best.objective_s = kInf;
  std::vector<int> best_order;
  auto out_of_time = [&] { return seconds_since(t0) >= options.time_limit_s; };
  // Local search from `order`: move one device to another position (which also lets an
  // unused device join anywhere) or swap two, keeping every improvement, until none is left.
  auto descend = [&](std::vector<int> order) {
    auto cur = solve_dp_order(cost, obj, order);
    double val = cur.is_ok() ? cur->objective_s : kInf;
    bool improved = true;
    while (improved && !out_of_time()) {
      improved = false;
      for (int i = 1; i < D && !out_of_time(); ++i) {
        for (int j = 1; j < D && !out_of_time(); ++j) {
          if (i == j) continue;
          for (int kind = 0; kind < 2; ++kind) {
            if (kind == 1 && j < i) continue;  // swaps are symmetric
            auto next = order;
            if (kind == 0) {
              int d = next[i];
              next.erase(next.begin() + i);
              next.insert(next.begin() + j, d);
            } else {
              std::swap(next[i], next[j]);
            }
            auto r = solve_dp_order(cost, obj, next);
            if (r.is_ok() && r->objective_s < val * (1 - 1e-12)) {
              val = r->objective_s;
              order = next;
              cur = std::move(r);
              improved = true;
            }
          }
        }
      }
    }
    if (cur.is_ok() && val < best.objective_s) {
      best = std::move(cur).value();
      best_order = order;
    }
  };
  // Start from the most promising candidates first, so a short budget still does well.
  std::vector<std::pair<double, size_t>> ranked;
  for (size_t i = 0; i < cands.size(); ++i) {
    auto r = solve_dp_order(cost, obj, cands[i]);
    ranked.push_back({r.is_ok() ? r->objective_s : kInf, i});
  }
  std::sort(ranked.begin(), ranked.end());
  for (const auto& [val, i] : ranked) {
    if (!best_order.empty() && out_of_time()) break;
    descend(cands[i]);
  }
  if (best_order.empty()) {
    return out_of_memory("no contiguous assignment fits the memory budgets for the device " +
                         std::string("orders tried (the search over orders is not exhaustive)"));
  }
  best.method = "dp-order";
  best.proven_optimal = false;
  best.note = "exact for the best device order found; orders searched heuristically";
  best.solve_s = seconds_since(t0);
  return best;
}

}  // namespace ll::plan
