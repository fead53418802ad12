#include "plan/planner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "plan/units.h"

namespace ll::plan {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<int> devices_in_order(const CostModel& cost) {
  std::vector<int> order{cost.head()};
  for (int d = 0; d < cost.n_devices(); ++d) {
    if (d != cost.head()) order.push_back(d);
  }
  return order;
}

// Device i of `order` gets segments [cut[i], cut[i+1]).
std::vector<int> from_cuts(const std::vector<int>& order, const std::vector<int>& cut, int S) {
  std::vector<int> dev(S, order[0]);
  for (size_t i = 0; i + 1 < cut.size(); ++i) {
    for (int s = cut[i]; s < cut[i + 1]; ++s) dev[s] = order[i];
  }
  return dev;
}

std::string seg_label(const ModelProfile& m, int s) {
  const std::string& l = m.segments[s].label;
  return l.empty() ? std::string("#").append(std::to_string(s)) : l;
}

}  // namespace

std::string_view method_name(Method m) {
  switch (m) {
    case Method::kMilp:
      return "milp";
    case Method::kDp:
      return "dp";
    default:
      return "auto";
  }
}

std::optional<Method> method_from_name(std::string_view name) {
  if (name == "auto") return Method::kAuto;
  if (name == "milp") return Method::kMilp;
  if (name == "dp") return Method::kDp;
  return std::nullopt;
}

std::vector<int> baseline_even(const CostModel& cost) {
  const int S = cost.n_segments();
  const int k = std::min(S, cost.n_devices());
  std::vector<int> cut{0};
  for (int i = 0; i < k; ++i) cut.push_back(cut.back() + S / k + (i < S % k ? 1 : 0));
  return from_cuts(devices_in_order(cost), cut, S);
}

std::vector<int> baseline_memory(const CostModel& cost) {
  const int S = cost.n_segments();
  std::vector<int> order = devices_in_order(cost);
  double total = 0;
  for (int d : order) total += cost.budget(d);
  std::vector<int> cut{0};
  double acc = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    acc += cost.budget(order[i]);
    int c = i + 1 == order.size() ? S : static_cast<int>(std::lround(S * acc / total));
    if (i == 0) c = std::max(c, 1);  // segment 0 must stay on the head
    cut.push_back(std::clamp(c, cut.back(), S));
  }
  return from_cuts(order, cut, S);
}

namespace {

Result<Solution> solve_objective(const CostModel& cost, Objective obj, const PlanOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  // CBC cannot be interrupted while it reads and presolves a model, so in auto mode it only
  // polishes interval models small enough to be done with that well within the budget.
  const bool polish = o.method == Method::kAuto && milp_available() &&
                      count_interval_columns(cost) <= o.auto_milp_max_columns;
  DpOptions dpo;
  dpo.max_exact_work = o.max_exact_dp_work;
  // The order search gets part of the budget so CBC has time left to improve on it.
  dpo.time_limit_s = o.time_limit_s > 0 ? o.time_limit_s * (polish ? 0.4 : 0.6) : 5.0;

  if (o.method == Method::kDp) return solve_dp(cost, obj, dpo);
  if (o.method == Method::kMilp) {
    if (!milp_available()) return solve_milp(cost, obj);  // kUnsupported, with the reason
    MilpOptions mo;
    Result<Solution> dp = o.warm_start ? solve_dp(cost, obj, dpo) : Result<Solution>(Solution{});
    if (o.warm_start && dp.is_ok()) mo.warm_start = &dp->device_of_segment;
    if (o.time_limit_s > 0) mo.time_limit_s = std::max(0.05, o.time_limit_s - elapsed());
    Result<Solution> r = solve_milp(cost, obj, mo);
    if (r.is_ok()) r->solve_s = elapsed();
    return r;
  }
  // Auto: the DP is exact when the device classes are few; CBC only polishes otherwise.
  Result<Solution> dp = solve_dp(cost, obj, dpo);
  if (dp.is_ok() && dp->proven_optimal) return dp;
  const double left = o.time_limit_s > 0 ? o.time_limit_s - elapsed() : 0;
  if (!polish || (o.time_limit_s > 0 && left < 0.05)) return dp;
  MilpOptions mo;
  mo.time_limit_s = o.time_limit_s > 0 ? left : 0;
  if (dp.is_ok()) mo.warm_start = &dp->device_of_segment;
  Result<Solution> milp = solve_milp(cost, obj, mo);
  if (!milp.is_ok()) return dp.is_ok() ? dp : milp;
  // With a warm start CBC never ends worse than the DP, but keep whichever is better anyway.
  const bool take_milp = !dp.is_ok() || milp->objective_s <= dp->objective_s;
  const bool proven = milp->proven_optimal;
  std::string note = milp->note;
  Solution best = take_milp ? std::move(milp).value() : std::move(dp).value();
  best.proven_optimal = proven;
  best.note = proven ? "CBC proved the plan optimal" : note;
  best.method = "dp-order+milp";
  best.solve_s = elapsed();
  return best;
}

}  // namespace

Result<Solution> solve(const CostModel& cost, Objective obj, const PlanOptions& o) {
  if (obj != Objective::kThroughput || o.n_seqs <= 1) return solve_objective(cost, obj, o);
  PlanOptions half = o;
  if (o.time_limit_s > 0) half.time_limit_s = o.time_limit_s / 2;
  Result<Solution> pipe = solve_objective(cost, Objective::kThroughput, half);
  if (!pipe.is_ok()) return pipe;
  Result<Solution> lat = solve_objective(cost, Objective::kLatency, half);
  if (!lat.is_ok()) return pipe;
  const Evaluation ev_pipe = evaluate(cost, pipe->device_of_segment);
  const Evaluation ev_lat = evaluate(cost, lat->device_of_segment);
  const double tok_pipe = tok_s_at_n_seqs(cost, ev_pipe, o.n_seqs);
  const double tok_lat = tok_s_at_n_seqs(cost, ev_lat, o.n_seqs);
  if (!(tok_lat > tok_pipe * (1 + 1e-9))) return pipe;
  Solution best = std::move(lat).value();
  best.objective_s = ev_lat.objective(Objective::kThroughput);
  best.proven_optimal = false;
  best.solve_s += pipe->solve_s;
  char note[160];
  std::snprintf(note, sizeof note,
                "the latency plan serves %d streams faster than the bottleneck plan "
                "(%.1f vs %.1f tok/s predicted)",
                o.n_seqs, tok_lat, tok_pipe);
  best.note = note;
  return best;
}

std::vector<OverlapEntry> plan_overlap(const CostModel& cost, const ModelProfile& model,
                                       const std::vector<int>& dev, int max_per_side) {
  std::vector<OverlapEntry> out;
  Evaluation ev = evaluate(cost, dev);
  if (!ev.invalid.empty()) return out;
  const int D = cost.n_devices();
  std::vector<double> spare(D), scratch(D, 0);
  for (int d = 0; d < D; ++d) {
    spare[d] = cost.budget(d) - ev.mem_bytes[d];
    for (int s = ev.first_segment[d]; s >= 0 && s <= ev.last_segment[d]; ++s) {
      scratch[d] = std::max(scratch[d], cost.scratch(s));
    }
  }
  // Preloading costs the receiver the segment's weights and KV (so the boundary can really
  // move) plus any growth of its largest scratch.
  auto try_add = [&](int s, int owner, int on) {
    double extra = cost.mem_need(s) + std::max(0.0, cost.scratch(s) - scratch[on]);
    if (extra > spare[on]) return false;
    spare[on] -= extra;
    scratch[on] = std::max(scratch[on], cost.scratch(s));
    out.push_back({s, seg_label(model, s), owner, on, cost.mem_need(s)});
    return true;
  };
  const size_t n_bound = ev.ring.size() ? ev.ring.size() - 1 : 0;
  std::vector<bool> fwd_alive(n_bound, true), bwd_alive(n_bound, true);
  // Round-robin by depth so one boundary can't eat a device's spare memory before the other.
  for (int depth = 0; depth < max_per_side; ++depth) {
    for (size_t i = 0; i < n_bound; ++i) {
      int left = ev.ring[i], right = ev.ring[i + 1];
      int s = ev.first_segment[right] + depth;  // right's segment, preloaded on left
      if (fwd_alive[i]) fwd_alive[i] = s < ev.last_segment[right] && try_add(s, right, left);
      s = ev.last_segment[left] - depth;  // left's segment, preloaded on right
      if (bwd_alive[i]) {
        bwd_alive[i] = s > ev.first_segment[left] && s > 0 && try_add(s, left, right);
      }
    }
  }
  return out;
}

PlanSummary summarize(std::string name, const CostModel& cost, const ModelProfile& model,
                      const Cluster& cluster, const RunConfig& run, const std::vector<int>& dev) {
  PlanSummary p;
  p.name = std::move(name);
  p.device_of_segment = dev;
  Evaluation ev = evaluate(cost, dev);
  p.latency_s = ev.latency_s;
  p.bottleneck_s = ev.bottleneck_s;
  p.single_stream_tok_s = ev.latency_s > 0 ? 1 / ev.latency_s : 0;
  p.pipelined_tok_s = ev.bottleneck_s > 0 ? 1 / ev.bottleneck_s : 0;
  p.pipelined_tok_s_at_n_seqs = tok_s_at_n_seqs(cost, ev, run.n_seqs);
  p.memory_ok = ev.memory_ok;
  double prefill_stage = 0;
  for (int d : ev.ring) {
    DeviceUse u;
    u.device = d;
    u.name = cluster.devices[d].name;
    u.head = d == cost.head();
    u.first_segment = ev.first_segment[d];
    u.last_segment = ev.last_segment[d];
    u.first_label = seg_label(model, u.first_segment);
    u.last_label = seg_label(model, u.last_segment);
    u.layer_first = model.segments[u.first_segment].layer_first;
    u.layer_last = model.segments[u.last_segment].layer_last;
    u.mem_bytes = ev.mem_bytes[d];
    u.budget_bytes = cost.budget(d);
    u.mem_ok = cost.fits(u.mem_bytes, d);
    u.compute_s = ev.compute_s[d];
    u.pass_s_at_n_seqs = pass_s(cost, ev, d, rows_per_pass(ev, run.n_seqs));
    for (int s = u.first_segment; s <= u.last_segment; ++s) {
      u.prefill_s_per_token += cost.prefill_s(s, d);
    }
    u.weight_bytes_per_token = cost.streamed_bytes(u.first_segment, u.last_segment + 1);
    prefill_stage = std::max(prefill_stage, u.prefill_s_per_token);  // NaN propagates below
    if (std::isnan(u.prefill_s_per_token)) prefill_stage = kNaN;
    if (!u.mem_ok) {
      if (!p.memory_note.empty()) p.memory_note += "; ";
      p.memory_note += u.name + " needs " + format_bytes(u.mem_bytes) + " of " +
                       format_bytes(u.budget_bytes) + " usable (over by " +
                       format_bytes(u.mem_bytes - u.budget_bytes) + ")";
    }
    p.devices.push_back(std::move(u));
  }
  for (int d = 0; d < cost.n_devices(); ++d) {
    if (ev.first_segment[d] < 0) p.unused_devices.push_back(cluster.devices[d].name);
  }
  for (const Message& m : ev.messages) {
    LinkUse l;
    l.from = m.from;
    l.to = m.to;
    l.from_name = cluster.devices[m.from].name;
    l.to_name = cluster.devices[m.to].name;
    l.kind = m.is_return ? "return" : m.sequential ? "sequential" : "residual";
    l.bytes_per_token = m.bytes;
    l.hop_s = m.hop_s;
    l.serialize_s = m.serialize_s;
    l.n_edges = m.n_edges;
    if (!m.is_return && !std::isnan(prefill_stage)) {
      prefill_stage = std::max(prefill_stage, m.serialize_s);
    }
    p.links.push_back(std::move(l));
  }
  p.prefill_tok_s = std::isnan(prefill_stage) || prefill_stage <= 0 ? kNaN : 1 / prefill_stage;
  return p;
}

std::string explain_infeasible(const CostModel& cost, const ModelProfile& model,
                               const Cluster& cluster, const RunConfig& run) {
  const int S = cost.n_segments(), D = cost.n_devices();
  double need = cost.run_memory(0, S), kv = 0, budget = 0, raw = 0;
  for (const Segment& g : model.segments) {
    kv += g.kv_bytes_per_token * static_cast<double>(run.ctx) * run.n_seqs;
  }
  for (int d = 0; d < D; ++d) {
    budget += cost.budget(d);
    raw += cluster.devices[d].mem_budget_bytes;
  }
  std::string msg = "no assignment fits: the model needs " + format_bytes(need) + " (KV cache " +
                    format_bytes(kv) + " for ctx " + std::to_string(run.ctx) + " x " +
                    std::to_string(run.n_seqs) + " seqs), total usable budget " +
                    format_bytes(budget) + " (mem_safety " + std::to_string(run.mem_safety) +
                    " of " + format_bytes(raw) + ")";
  if (need > budget) {
    msg += " (short by " + format_bytes(need - budget) + ")";
  } else {
    msg += "; the total would fit but no contiguous split does";
  }
  int big = 0;
  for (int s = 1; s < S; ++s) {
    if (cost.run_memory(s, s + 1) > cost.run_memory(big, big + 1)) big = s;
  }
  double big_need = cost.run_memory(big, big + 1);
  std::vector<std::string> hold;
  for (int d = 0; d < D; ++d) {
    if (cost.fits(big_need, d)) hold.push_back(cluster.devices[d].name);
  }
  msg += "; largest segment " + seg_label(model, big) + " " + format_bytes(big_need);
  if (hold.empty()) {
    msg += " exceeds every device";
  } else {
    msg += " fits only on";
    for (size_t i = 0; i < hold.size(); ++i) msg += (i ? ", " : " ") + hold[i];
  }
  const int h = cost.head();
  double seg0 = cost.run_memory(0, 1);
  if (!cost.fits(seg0, h)) {
    msg += "; segment 0 (" + seg_label(model, 0) + ", " + format_bytes(seg0) +
           ") must sit on head '" + cluster.devices[h].name + "' whose usable budget is " +
           format_bytes(cost.budget(h));
  }
  return msg;
}

Result<PlanReport> make_plan(const ModelProfile& model, const Cluster& cluster,
                             const RunConfig& run, const PlanOptions& options) {
  CostOptions co;
  co.use_p95_latency = options.use_p95_latency;
  LL_ASSIGN_OR_RETURN(CostModel cost, CostModel::build(model, cluster, run, co));
  PlanOptions o = options;
  o.n_seqs = std::max(o.n_seqs, run.n_seqs);
  Result<Solution> sol = solve(cost, o.objective, o);
  if (!sol.is_ok()) {
    if (sol.status().code() != StatusCode::kOutOfMemory) return sol.status();
    return out_of_memory(explain_infeasible(cost, model, cluster, run) + " [" +
                         sol.status().message() + "]");
  }
  PlanReport r;
  r.model_name = model.name;
  r.n_layer = model.n_layer;
  r.n_params = model.n_params;
  r.n_segments = cost.n_segments();
  r.run = run;
  r.objective = options.objective;
  r.solution = std::move(sol).value();
  r.plan = summarize("plan", cost, model, cluster, run, r.solution.device_of_segment);
  r.overlap = plan_overlap(cost, model, r.solution.device_of_segment, options.overlap_max_per_side);
  r.baselines.push_back(summarize("even", cost, model, cluster, run, baseline_even(cost)));
  r.baselines.push_back(summarize("memory", cost, model, cluster, run, baseline_memory(cost)));
  return r;
}

}  // namespace ll::plan
