#include "plan/cost.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace ll::plan {

std::string_view objective_name(Objective o) {
  return o == Objective::kLatency ? "latency" : "throughput";
}

std::optional<Objective> objective_from_name(std::string_view name) {
  if (name == "latency") return Objective::kLatency;
  if (name == "throughput") return Objective::kThroughput;
  return std::nullopt;
}

namespace {

// One decode row's attention reads its KV cache up to its position, streamed like weights
// (F32 caches: far more bytes than FLOPs, so memory-bound). Rows never share these reads.
double attention_seconds(const Segment& g, const DeviceProfile& d, double pos) {
  const double rate = d.decode_bytes_per_s.get(DType::kF32);
  return g.kv_bytes_per_token > 0 && rate > 0 ? g.kv_bytes_per_token * pos / rate : 0;
}

double decode_seconds(const Segment& g, const DeviceProfile& d, double pos) {
  double t = d.per_segment_overhead_s + attention_seconds(g, d, pos);
  for (const auto& [type, bytes] : g.weight_bytes_by_type) {
    if (bytes > 0) t += bytes / d.decode_bytes_per_s.get(type);
  }
  if (g.flops_other > 0) t += g.flops_other / d.other_flops_per_s;
  return t;
}

// What streaming the segment's weights costs beyond decode_seconds when the device's pass
// streams a working set too large for its cache to keep any of (DeviceProfile::
// decode_large_bytes_per_s); 0 where that rate is unknown or within the probes' noise of the
// other (a phone's few MiB of cache keep nothing of either probe).
double large_set_extra_seconds(const Segment& g, const DeviceProfile& d) {
  constexpr double kSameRate = 0.95;
  double t = 0;
  for (const auto& [type, bytes] : g.weight_bytes_by_type) {
    const double small = d.decode_bytes_per_s.get(type);
    const double large = d.decode_large_bytes_per_s.get(type);
    if (bytes > 0 && large > 0 && large < kSameRate * small) t += bytes / large - bytes / small;
  }
  return t;
}

double weight_bytes(const Segment& g) {
  double b = 0;
  for (const auto& [type, bytes] : g.weight_bytes_by_type) b += bytes;
  return b;
}

// Matmul FLOPs follow from streamed bytes: 2 FLOPs per weight element; the rest of the prefill
// FLOPs run at the device's "other" rate.
double prefill_seconds(const Segment& g, const DeviceProfile& d) {
  double t = 0, matmul = 0;
  for (const auto& [type, bytes] : g.weight_bytes_by_type) {
    if (bytes <= 0) continue;
    DTypeInfo info = dtype_info(type);
    double flops = 2.0 * bytes * info.block_size / info.bytes_per_block;
    double rate = d.prefill_flops_per_s.get(type);
    if (!(rate > 0)) return std::numeric_limits<double>::quiet_NaN();
    matmul += flops;
    t += flops / rate;
  }
  double other = std::max(0.0, g.flops_prefill_per_token - matmul);
  if (other > 0) {
    if (!(d.other_flops_per_s > 0)) return std::numeric_limits<double>::quiet_NaN();
    t += other / d.other_flops_per_s;
  }
  return t;
}

// What one more decode row costs a pass that already carries one: the weights are read once
// for all rows, so only the kernels' extra work per row (measured with 4 rows) and the row's
// own attention and elementwise work. Without a 4-row rate, a prompt token's cost.
double extra_row_seconds(const Segment& g, const DeviceProfile& d, double pos) {
  if (d.decode4_bytes_per_s.empty()) return prefill_seconds(g, d);
  double t = attention_seconds(g, d, pos);
  for (const auto& [type, bytes] : g.weight_bytes_by_type) {
    if (bytes <= 0) continue;
    const double one = bytes / d.decode_bytes_per_s.get(type);
    const double r4 = d.decode4_bytes_per_s.get(type);
    t += r4 > 0 ? std::max(0.0, (bytes / r4 - one) / 3) : one;
  }
  if (g.flops_other > 0) t += g.flops_other / d.other_flops_per_s;
  return t;
}

}  // namespace

Result<CostModel> CostModel::build(const ModelProfile& model, const Cluster& cluster,
                                   const RunConfig& run, const CostOptions& options) {
  LL_RETURN_IF_ERROR(validate_inputs(model, cluster, run));
  CostModel c;
  c.n_seg_ = static_cast<int>(model.segments.size());
  c.n_dev_ = static_cast<int>(cluster.devices.size());
  c.head_ = cluster.head_index();
  const int S = c.n_seg_, D = c.n_dev_;
  c.compute_.resize(S * D);
  c.prefill_.resize(S * D);
  c.extra_row_.resize(S * D);
  c.large_prefix_.assign((S + 1) * D, 0);
  c.weight_prefix_.assign(S + 1, 0);
  c.mem_need_.resize(S);
  c.scratch_.resize(S);
  c.need_prefix_.assign(S + 1, 0);
  const double kv_tokens = static_cast<double>(run.ctx) * run.n_seqs;
  const double pos = run.attn_pos >= 0 ? run.attn_pos : run.ctx / 2.0;
  for (int s = 0; s < S; ++s) {
    const Segment& g = model.segments[s];
    for (int d = 0; d < D; ++d) {
      c.compute_[s * D + d] = decode_seconds(g, cluster.devices[d], pos);
      c.prefill_[s * D + d] = prefill_seconds(g, cluster.devices[d]);
      c.extra_row_[s * D + d] = extra_row_seconds(g, cluster.devices[d], pos);
      c.large_prefix_[(s + 1) * D + d] =
          c.large_prefix_[s * D + d] + large_set_extra_seconds(g, cluster.devices[d]);
    }
    c.weight_prefix_[s + 1] = c.weight_prefix_[s] + weight_bytes(g);
    c.mem_need_[s] = g.weight_bytes_resident + g.kv_bytes_per_token * kv_tokens;
    c.scratch_[s] = g.scratch_bytes;
    c.need_prefix_[s + 1] = c.need_prefix_[s] + c.mem_need_[s];
  }
  for (int d = 0; d < D; ++d) {
    c.budget_.push_back(cluster.devices[d].mem_budget_bytes * run.mem_safety);
  }
  c.inv_bw_.assign(D * D, 0);
  c.tail_.assign(D * D, LatencyTail{});
  for (int a = 0; a < D; ++a) {
    for (int b = 0; b < D; ++b) {
      if (a == b) continue;
      const LinkProfile& l = cluster.links[a][b];
      c.tail_[a * D + b] = options.use_p95_latency
                               ? LatencyTail{l.latency_s_p95, 0}
                               : LatencyTail::from_median_p95(l.latency_s_median, l.latency_s_p95);
      c.inv_bw_[a * D + b] = 1.0 / l.bandwidth_bytes_per_s;
    }
  }
  std::map<std::pair<int, int>, double> merged;
  for (int s = 0; s < S; ++s) {
    for (const SegmentEdge& e : model.segments[s].edges) merged[{s, e.to}] += e.bytes_per_token;
  }
  for (const auto& [k, bytes] : merged) c.edges_.push_back({k.first, k.second, bytes});
  return c;
}

double CostModel::working_set_extra_s(int a, int b, int d) const {
  const double bytes = streamed_bytes(a, b);
  const double extra = large_prefix_[b * n_dev_ + d] - large_prefix_[a * n_dev_ + d];
  if (!(extra > 0) || bytes <= kProbeWorkingSetBytes) return 0;
  // Between the probes' working sets, log-linear: each doubling keeps about as much less.
  const double f = std::log(bytes / kProbeWorkingSetBytes) /
                   std::log(kLargeWorkingSetBytes / kProbeWorkingSetBytes);
  return std::min(1.0, f) * extra;
}

double CostModel::run_memory(int a, int b) const {
  if (a >= b) return 0;
  double scratch = 0;
  for (int s = a; s < b; ++s) scratch = std::max(scratch, scratch_[s]);
  return need_prefix_[b] - need_prefix_[a] + scratch;
}

Evaluation evaluate(const CostModel& cost, const std::vector<int>& dev) {
  Evaluation ev;
  const int S = cost.n_segments(), D = cost.n_devices();
  if (static_cast<int>(dev.size()) != S) {
    ev.invalid = "assignment has " + std::to_string(dev.size()) + " entries, model has " +
                 std::to_string(S) + " segments";
    return ev;
  }
  ev.first_segment.assign(D, -1);
  ev.last_segment.assign(D, -1);
  ev.compute_s.assign(D, 0);
  ev.mem_bytes.assign(D, 0);
  for (int s = 0; s < S; ++s) {
    int d = dev[s];
    if (d < 0 || d >= D) {
      ev.invalid = "segment " + std::to_string(s) + " on unknown device " + std::to_string(d);
      return ev;
    }
    if (ev.first_segment[d] < 0) {
      ev.first_segment[d] = s;
      ev.ring.push_back(d);
    } else if (ev.last_segment[d] != s - 1) {
      ev.invalid = "device " + std::to_string(d) + " holds a non-contiguous set of segments";
      return ev;
    }
    ev.last_segment[d] = s;
    ev.compute_s[d] += cost.compute_s(s, d);
  }
  if (dev[0] != cost.head()) {
    ev.invalid = "segment 0 is not on the head device";
    return ev;
  }
  for (int d : ev.ring) {
    ev.compute_s[d] += cost.working_set_extra_s(ev.first_segment[d], ev.last_segment[d] + 1, d);
    ev.mem_bytes[d] = cost.run_memory(ev.first_segment[d], ev.last_segment[d] + 1);
    if (!cost.fits(ev.mem_bytes[d], d)) ev.memory_ok = false;
    ev.latency_s += ev.compute_s[d];
    ev.bottleneck_s = std::max(ev.bottleneck_s, ev.compute_s[d]);
  }
  // Aggregate edges into one message per ordered device pair.
  std::vector<int> pos(D, -1);
  for (size_t i = 0; i < ev.ring.size(); ++i) pos[ev.ring[i]] = static_cast<int>(i);
  std::map<std::pair<int, int>, Message> msgs;  // keyed by ring positions
  for (const CostModel::Edge& e : cost.edges()) {
    int a = dev[e.from], b = dev[e.to];
    if (a == b) continue;
    Message& m = msgs[{pos[a], pos[b]}];
    m.from = a;
    m.to = b;
    m.bytes += e.bytes;
    m.n_edges += 1;
    m.sequential = m.sequential || e.to == e.from + 1;
  }
  for (auto& [k, m] : msgs) {
    m.hop_s = cost.hop_s(m.from, m.to, m.bytes);
    m.serialize_s = cost.serialize_s(m.from, m.to, m.bytes);
    ev.messages.push_back(m);
  }
  int tail = dev[S - 1];
  if (tail != cost.head()) {
    Message r;
    r.from = tail;
    r.to = cost.head();
    r.bytes = kTokenIdBytes;
    r.hop_s = cost.hop_s(tail, r.to, r.bytes);
    r.serialize_s = cost.serialize_s(tail, r.to, r.bytes);
    r.is_return = true;
    ev.messages.push_back(r);
  }
  for (const Message& m : ev.messages) {
    ev.latency_s += m.hop_s;
    ev.bottleneck_s = std::max(ev.bottleneck_s, m.serialize_s);
  }
  return ev;
}

}  // namespace ll::plan
