// The cost model shared by every solver (MILP, DP) and by the predictions, so that all of them
// optimise and report exactly the same quantity. See docs/plan.md "Cost model".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/latency_tail.h"
#include "plan/profile.h"

namespace ll::plan {

enum class Objective {
  kLatency,     // one token through the whole ring: single-stream speed
  kThroughput,  // bottleneck pipeline stage: speed with many sequences in flight
};
std::string_view objective_name(Objective o);
std::optional<Objective> objective_from_name(std::string_view name);

struct CostOptions {
  // Charge every hop its p95 latency, without a tail, instead of drawing from the link's tail
  // (mean latency in the sums).
  bool use_p95_latency = false;
};

// Bytes the tail sends back to the head each token (the sampled token id).
inline constexpr double kTokenIdBytes = 4;
// Relative slack when comparing memory use to a budget, so float sums don't flip verdicts.
inline constexpr double kMemTolerance = 1e-9;

class CostModel {
 public:
  struct Edge {
    int from = 0;
    int to = 0;
    double bytes = 0;  // all edges between the same two segments, summed
  };

  static Result<CostModel> build(const ModelProfile& model, const Cluster& cluster,
                                 const RunConfig& run, const CostOptions& options = {});

  int n_segments() const { return n_seg_; }
  int n_devices() const { return n_dev_; }
  int head() const { return head_; }

  // Decode seconds per token of segment s on device d, including the dispatch overhead.
  double compute_s(int s, int d) const { return compute_[s * n_dev_ + d]; }
  // Prefill seconds per prompt token; NaN when the device lacks prefill rates.
  double prefill_s(int s, int d) const { return prefill_[s * n_dev_ + d]; }
  // Seconds one more decode row adds to a pass of segment s on device d (weights read once);
  // NaN when unknown.
  double extra_row_s(int s, int d) const { return extra_row_[s * n_dev_ + d]; }
  // What device d's pass over segments [a, b) costs beyond the sum of their compute_s because
  // it streams more weights than the profile's decode probe: a cache keeps part of a probe's
  // working set between passes but less of a larger one (DeviceProfile::decode_large_bytes_per_s).
  // Not linear in the segments: compute_s leaves it out; evaluate(), the DP and the interval
  // MILP add it per device (per run of segments), the assignment MILP cannot.
  double working_set_extra_s(int a, int b, int d) const;
  // Segment s's share of that on device d when a pass streams no cached bytes at all.
  double large_set_extra_s(int s, int d) const {
    return large_prefix_[(s + 1) * n_dev_ + d] - large_prefix_[s * n_dev_ + d];
  }
  // Weight bytes segments [a, b) stream per decode token.
  double streamed_bytes(int a, int b) const { return weight_prefix_[b] - weight_prefix_[a]; }
  // Bytes segment s needs wherever it runs: resident weights + its KV cache.
  double mem_need(int s) const { return mem_need_[s]; }
  double scratch(int s) const { return scratch_[s]; }
  double budget(int d) const { return budget_[d]; }  // usable: mem_budget * mem_safety
  // Memory of a device holding segments [a, b): sum of needs + the largest scratch.
  double run_memory(int a, int b) const;
  bool fits(double mem, int d) const { return mem <= budget_[d] * (1 + kMemTolerance); }

  // A hop's latency: the mean of the link's tail (above its median on Wi-Fi), or its p95 with
  // CostOptions::use_p95_latency.
  double latency_s(int from, int to) const { return tail_[from * n_dev_ + to].mean_s(); }
  const LatencyTail& latency_tail(int from, int to) const { return tail_[from * n_dev_ + to]; }
  double inv_bandwidth(int from, int to) const { return inv_bw_[from * n_dev_ + to]; }
  // One message from `from` to `to`: latency + bytes / bandwidth (0 on the same device).
  double hop_s(int from, int to, double bytes) const {
    return from == to ? 0 : latency_s(from, to) + bytes * inv_bw_[from * n_dev_ + to];
  }
  double serialize_s(int from, int to, double bytes) const {
    return from == to ? 0 : bytes * inv_bw_[from * n_dev_ + to];
  }

  const std::vector<Edge>& edges() const { return edges_; }

 private:
  int n_seg_ = 0, n_dev_ = 0, head_ = 0;
  std::vector<double> compute_, prefill_, extra_row_, mem_need_, scratch_, budget_, inv_bw_;
  // [segment + 1, device]: sums over the segments before it of large_set_extra_s
  std::vector<double> large_prefix_;
  std::vector<double> weight_prefix_;  // [segment + 1]: weight bytes streamed before it
  std::vector<double> need_prefix_;
  std::vector<LatencyTail> tail_;
  std::vector<Edge> edges_;
};

// One message per ordered device pair per token, carrying every edge between them.
struct Message {
  int from = 0;
  int to = 0;
  double bytes = 0;
  double hop_s = 0;        // latency + bytes / bandwidth
  double serialize_s = 0;  // bytes / bandwidth: the link's pipeline stage
  int n_edges = 0;
  bool sequential = false;  // carries a segment s -> s+1 edge
  bool is_return = false;   // the tail -> head token id
};

struct Evaluation {
  std::string invalid;  // non-empty when the assignment breaks a structural rule
  bool memory_ok = true;
  double latency_s = 0;     // compute of all segments + every message + the return hop
  double bottleneck_s = 0;  // max over device compute and link serialisation
  std::vector<int> ring;    // used devices, head first, in segment order
  std::vector<int> first_segment, last_segment;  // per device; -1 when unused
  std::vector<double> compute_s, mem_bytes;      // per device
  std::vector<Message> messages;                 // ring order of the sender, then receiver
  double objective(Objective o) const {
    return o == Objective::kLatency ? latency_s : bottleneck_s;
  }
};

// Scores device_of_segment (one device index per segment) under the cost model.
Evaluation evaluate(const CostModel& cost, const std::vector<int>& device_of_segment);

}  // namespace ll::plan
