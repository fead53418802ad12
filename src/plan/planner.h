// The planner's front door: solve, compare with naive baselines, add an overlap plan, predict.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plan/cost.h"
#include "plan/dp.h"
#include "plan/milp.h"
#include "plan/pipeline.h"
#include "plan/profile.h"
#include "plan/solution.h"

namespace ll::plan {

enum class Method {
  kAuto,  // exact DP when affordable; else DP over device orders, polished by CBC
  kMilp,  // CBC (warm-started from the DP unless told not to)
  kDp,    // DP only (exact when affordable)
};
std::string_view method_name(Method m);
std::optional<Method> method_from_name(std::string_view name);

struct PlanOptions {
  Objective objective = Objective::kLatency;
  Method method = Method::kAuto;
  double time_limit_s = 1.5;  // wall-time budget for the search; 0 = none (MILP runs to proof)
  bool warm_start = true;     // kMilp: hand CBC the DP's plan first
  bool use_p95_latency = false;
  int overlap_max_per_side = 2;  // boundary segments preloaded per side of each boundary
  // kThroughput: the streams the plan serves at once. With more than one, the latency plan is
  // solved too and kept when it serves them faster (tok_s_at_n_seqs): a small model's streams
  // are bound by the ring's round trips, which fewer hops shorten, not by its slowest stage.
  int n_seqs = 1;
  double max_exact_dp_work = 6e7;
  // kAuto lets CBC polish a non-exact DP plan only when the interval model has at most this
  // many run columns (CBC's presolve ignores time limits; ~8000 columns take ~1 s).
  int auto_milp_max_columns = 8000;
};

struct DeviceUse {
  int device = 0;
  std::string name;
  bool head = false;
  int first_segment = 0, last_segment = 0;  // inclusive
  std::string first_label, last_label;
  int layer_first = 0, layer_last = 0;
  double mem_bytes = 0;
  double budget_bytes = 0;  // usable (mem_budget * mem_safety)
  bool mem_ok = true;
  double compute_s = 0;            // decode, per token
  double pass_s_at_n_seqs = 0;     // one pass with run.n_seqs streams in flight (pass_s)
  double prefill_s_per_token = 0;  // NaN when unknown
  double weight_bytes_per_token = 0;
};

struct LinkUse {
  int from = 0, to = 0;
  std::string from_name, to_name;
  std::string kind;  // "sequential", "residual" or "return"
  double bytes_per_token = 0;
  double hop_s = 0;        // latency + bytes / bandwidth
  double serialize_s = 0;  // bytes / bandwidth
  int n_edges = 0;
};

struct PlanSummary {
  std::string name;  // "plan", "even", "memory"
  std::vector<int> device_of_segment;
  double latency_s = 0, bottleneck_s = 0;
  double single_stream_tok_s = 0;        // 1 / latency
  double pipelined_tok_s = 0;            // 1 / bottleneck
  double pipelined_tok_s_at_n_seqs = 0;  // tok_s_at_n_seqs(): what n_seqs streams reach
  double prefill_tok_s = 0;              // NaN when a device lacks prefill rates
  bool memory_ok = true;
  std::string memory_note;         // which devices are over budget, by how much
  std::vector<DeviceUse> devices;  // used devices in ring order
  std::vector<std::string> unused_devices;
  std::vector<LinkUse> links;
};

// A boundary segment also loaded on the neighbouring device, so a rebalance can move the
// boundary without moving weights.
struct OverlapEntry {
  int segment = 0;
  std::string label;
  int owner = 0;       // device that runs it in the plan
  int preload_on = 0;  // neighbour that also holds it
  double bytes = 0;    // resident weights + KV it costs there
};

struct PlanReport {
  std::string model_name;
  int n_layer = 0;
  double n_params = 0;
  int n_segments = 0;
  RunConfig run;
  Objective objective = Objective::kLatency;
  Solution solution;  // solver details
  PlanSummary plan;
  std::vector<OverlapEntry> overlap;
  std::vector<PlanSummary> baselines;  // "even", "memory"
};

Result<PlanReport> make_plan(const ModelProfile& model, const Cluster& cluster,
                             const RunConfig& run, const PlanOptions& options = {});

// Runs the chosen method on a built cost model; no baselines, overlap or explanation.
Result<Solution> solve(const CostModel& cost, Objective objective, const PlanOptions& options);

// Naive splits over all devices in device order, head first (they may break memory budgets).
std::vector<int> baseline_even(const CostModel& cost);    // equal segment counts
std::vector<int> baseline_memory(const CostModel& cost);  // counts proportional to budgets

std::vector<OverlapEntry> plan_overlap(const CostModel& cost, const ModelProfile& model,
                                       const std::vector<int>& device_of_segment, int max_per_side);

PlanSummary summarize(std::string name, const CostModel& cost, const ModelProfile& model,
                      const Cluster& cluster, const RunConfig& run,
                      const std::vector<int>& device_of_segment);

// Why nothing fits: total need vs budget, and which devices can hold the largest segment.
std::string explain_infeasible(const CostModel& cost, const ModelProfile& model,
                               const Cluster& cluster, const RunConfig& run);

}  // namespace ll::plan
