// Inputs of the planner: a model already cut into segments, a cluster of devices with measured
// rates and links, and a run configuration. Units are always seconds and bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace ll::plan {

struct SegmentEdge {
  int to = 0;                  // consuming segment; > the producer. to == from+1 is sequential
  double bytes_per_token = 0;  // activation bytes sent per decode token
};

struct Segment {
  std::string label;    // e.g. "L3.attn"
  int layer_first = 0;  // inclusive layer range, for display
  int layer_last = 0;
  double flops_decode = 0;  // all FLOPs per decode token (display)
  // FLOPs per decode token outside weight-streaming matvecs and attention over the KV cache
  // (which is charged by the bytes of cache it reads: kv_bytes_per_token per position)
  double flops_other = 0;
  double flops_prefill_per_token = 0;            // all FLOPs per prompt token
  std::map<DType, double> weight_bytes_by_type;  // weight bytes streamed per decode token
  double weight_bytes_resident = 0;              // weight bytes held in memory
  double kv_bytes_per_token = 0;                 // KV cache per context token per sequence
  double scratch_bytes = 0;                      // activations/workspace while running
  std::vector<SegmentEdge> edges;                // outgoing
};

// Segment 0 holds the embedding lookup (pinned to the head), the last one the LM head.
struct ModelProfile {
  std::string name;
  int n_layer = 0;
  double n_params = 0;
  std::vector<Segment> segments;
};

// A rate per DType; `fallback` (0 = none) covers types without their own entry.
struct RateTable {
  std::map<DType, double> by_type;
  double fallback = 0;
  double get(DType t) const;  // 0 when unknown
  bool empty() const { return by_type.empty() && fallback <= 0; }
};

// Working sets of the profiler's decode probes: `decode` over the first, `decode_large` over
// the second. A device's pass is charged the rate of its own working set (plan/cost.h).
inline constexpr double kProbeWorkingSetBytes = 128.0 * 1024 * 1024;
inline constexpr double kLargeWorkingSetBytes = 256.0 * 1024 * 1024;

struct DeviceProfile {
  std::string name;
  std::string arch;
  int threads = 1;
  double mem_budget_bytes = 0;
  RateTable decode_bytes_per_s;   // how fast its matvec kernels stream weights, per type
  RateTable prefill_flops_per_s;  // matmul FLOP/s during prefill, per type (display only)
  // Weight bytes/s of a pass carrying 4 decode rows (the small batches of pipelined streams),
  // per type; empty: unknown (the planner then charges an extra row the prefill rate).
  RateTable decode4_bytes_per_s;
  // Weight bytes/s of one decode row when the pass streams kLargeWorkingSetBytes, more than a
  // cache can keep from one pass to the next; `decode` is measured over kProbeWorkingSetBytes,
  // part of which a large last-level cache (a server's, where the emulator runs) keeps. Per
  // type; empty: unknown (every share is charged the `decode` rate).
  RateTable decode_large_bytes_per_s;
  double other_flops_per_s = 0;  // attention / elementwise
  double per_segment_overhead_s = 0;
  bool head = false;
};

struct LinkProfile {
  double latency_s_median = 0;
  double latency_s_p95 = 0;
  double bandwidth_bytes_per_s = 0;
};

struct Cluster {
  std::vector<DeviceProfile> devices;
  std::vector<std::vector<LinkProfile>> links;  // links[from][to]; the diagonal is unused
  // The device flagged head, else device 0 (validate() rejects several heads).
  int head_index() const;
};

struct RunConfig {
  int64_t ctx = 2048;       // context length the KV cache is sized for
  int n_seqs = 1;           // concurrent sequences, each with its own KV cache
  double mem_safety = 0.9;  // usable fraction of each device's mem budget
  // Context positions a decode row attends over, on average: each reads that many positions
  // of its KV cache. < 0: half the context. A balancer passes its live sequences' mean.
  double attn_pos = -1;
};

Status validate_model(const ModelProfile& model);
Status validate_cluster(const Cluster& cluster);
// Both of the above, plus: every device has a decode rate for every type the model streams.
Status validate_inputs(const ModelProfile& model, const Cluster& cluster, const RunConfig& run);

}  // namespace ll::plan
