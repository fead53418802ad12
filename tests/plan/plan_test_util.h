// Random planner instances and a brute-force oracle that shares no code with the library's
// cost model: it recomputes every time from the raw profiles.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "plan/profile.h"

namespace ll::plan::testing {

struct Instance {
  ModelProfile model;
  Cluster cluster;
  RunConfig run;
};

struct InstanceShape {
  int min_seg = 1, max_seg = 10;
  int min_dev = 1, max_dev = 5;
  double residual_p = 0.15;  // chance of an edge s -> t for each t > s + 1
  int max_residual_span = 1 << 20;
  double budget_lo = 0.2, budget_hi = 1.0;  // each budget as a fraction of the model's need
  double large_p = 0;  // chance that a device streams large working sets slower (decode_large)
};

inline double log_uniform(std::mt19937_64& r, double lo, double hi) {
  return std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(r));
}

inline Instance random_instance(std::mt19937_64& r, const InstanceShape& shape = {}) {
  auto uni = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(r);
  };
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(r); };
  Instance in;
  const int S = pick(shape.min_seg, shape.max_seg), D = pick(shape.min_dev, shape.max_dev);
  in.run.ctx = pick(0, 4096);
  in.run.n_seqs = pick(1, 2);
  in.run.mem_safety = uni(0.7, 1.0);
  double total_need = 0;
  in.model.name = "random";
  for (int s = 0; s < S; ++s) {
    Segment g;
    g.label = std::string("s").append(std::to_string(s));
    g.layer_first = g.layer_last = s / 2;
    g.weight_bytes_by_type[DType::kQ8_0] = log_uniform(r, 1e6, 1e8);
    if (uni(0, 1) < 0.3) g.weight_bytes_by_type[DType::kF16] = log_uniform(r, 1e5, 5e7);
    g.flops_other = uni(0, 1) < 0.8 ? log_uniform(r, 1e5, 1e8) : 0;
    g.flops_prefill_per_token = g.flops_other * 2;
    double streamed = 0;
    for (const auto& [t, b] : g.weight_bytes_by_type) streamed += b;
    g.weight_bytes_resident = streamed * uni(0.8, 1.5);
    g.kv_bytes_per_token = uni(0, 1) < 0.7 ? uni(0, 2e4) : 0;
    g.scratch_bytes = uni(0, 1e7);
    if (s + 1 < S && uni(0, 1) < 0.9) g.edges.push_back({s + 1, log_uniform(r, 1e3, 1e5)});
    for (int t = s + 2; t < S && t - s <= shape.max_residual_span; ++t) {
      if (uni(0, 1) < shape.residual_p) g.edges.push_back({t, log_uniform(r, 10, 1e5)});
    }
    total_need += g.weight_bytes_resident +
                  g.kv_bytes_per_token * static_cast<double>(in.run.ctx) * in.run.n_seqs;
    in.model.segments.push_back(std::move(g));
  }
  in.model.n_layer = (S + 1) / 2;
  const int head = pick(0, D - 1);
  for (int d = 0; d < D; ++d) {
    DeviceProfile p;
    p.name = std::string("dev").append(std::to_string(d));
    p.decode_bytes_per_s.fallback = log_uniform(r, 1e9, 3e10);
    if (uni(0, 1) < 0.5) p.decode_bytes_per_s.by_type[DType::kF16] = log_uniform(r, 1e9, 3e10);
    p.other_flops_per_s = log_uniform(r, 1e9, 1e11);
    p.per_segment_overhead_s = uni(0, 1e-3);
    p.mem_budget_bytes = total_need * uni(shape.budget_lo, shape.budget_hi) / in.run.mem_safety;
    p.head = d == head;
    in.cluster.devices.push_back(p);
  }
  in.cluster.links.assign(D, std::vector<LinkProfile>(D));
  for (int a = 0; a < D; ++a) {
    for (int b = 0; b < D; ++b) {
      LinkProfile& l = in.cluster.links[a][b];
      l.latency_s_median = log_uniform(r, 5e-4, 2e-2);
      l.latency_s_p95 = l.latency_s_median * 2;
      l.bandwidth_bytes_per_s = log_uniform(r, 1e6, 1e8);
    }
  }
  // Drawn last, so instances without it are what they were.
  for (DeviceProfile& p : in.cluster.devices) {
    if (shape.large_p > 0 && uni(0, 1) < shape.large_p)
      p.decode_large_bytes_per_s.fallback = p.decode_bytes_per_s.fallback * uni(0.3, 1.0);
  }
  return in;
}

struct BruteResult {
  bool feasible = false;
  double best_latency = std::numeric_limits<double>::infinity();
  double best_bottleneck = std::numeric_limits<double>::infinity();
};

struct Score {
  bool memory_ok = true;
  double latency = 0, bottleneck = 0;
};

// A link's expected latency: its tail is shift + Exp(mean) through the median and the p95
// (core/latency_tail.h), so the p95 sits mean * ln(10) above the median.
inline double mean_latency(double median, double p95) {
  if (!(p95 > median)) return median;
  const double tail = (p95 - median) / std::log(10.0);
  const double shift = median - tail * std::log(2.0);
  return shift >= 0 ? shift + tail : p95 / std::log(20.0);
}

// Scores an assignment straight from the profiles (no CostModel).
inline Score score(const Instance& in, const std::vector<int>& dev) {
  const auto& segs = in.model.segments;
  const auto& devs = in.cluster.devices;
  const int S = static_cast<int>(segs.size()), D = static_cast<int>(devs.size());
  int head = 0;
  for (int d = 0; d < D; ++d) {
    if (devs[d].head) head = d;
  }
  Score sc;
  std::vector<double> comp(D, 0), mem(D, 0), scratch(D, 0), streamed(D, 0), large_extra(D, 0);
  for (int s = 0; s < S; ++s) {
    const DeviceProfile& p = devs[dev[s]];
    double t = p.per_segment_overhead_s + segs[s].flops_other / p.other_flops_per_s;
    auto lookup = [](const RateTable& table, DType type) {
      auto it = table.by_type.find(type);
      return it != table.by_type.end() ? it->second : table.fallback;
    };
    auto rate = [&](DType type) { return lookup(p.decode_bytes_per_s, type); };
    for (const auto& [type, bytes] : segs[s].weight_bytes_by_type) {
      t += bytes / rate(type);
      streamed[dev[s]] += bytes;
      // Beyond the probe's working set: the large rate, unless within 5 % of the small one.
      const double large = lookup(p.decode_large_bytes_per_s, type);
      if (bytes > 0 && large > 0 && large < 0.95 * rate(type))
        large_extra[dev[s]] += bytes / large - bytes / rate(type);
    }
    // Attention reads the row's KV cache up to its position, at the F32 stream rate.
    const double pos = in.run.attn_pos >= 0 ? in.run.attn_pos : in.run.ctx / 2.0;
    if (segs[s].kv_bytes_per_token > 0 && rate(DType::kF32) > 0)
      t += segs[s].kv_bytes_per_token * pos / rate(DType::kF32);
    comp[dev[s]] += t;
    mem[dev[s]] += segs[s].weight_bytes_resident +
                   segs[s].kv_bytes_per_token * static_cast<double>(in.run.ctx) * in.run.n_seqs;
    scratch[dev[s]] = std::max(scratch[dev[s]], segs[s].scratch_bytes);
  }
  for (int d = 0; d < D; ++d) {
    // 128 MiB and less: the probe's rate; 256 MiB and more: the large rate; log-linear between.
    const double f = std::clamp(std::log2(streamed[d] / (128.0 * 1024 * 1024)), 0.0, 1.0);
    if (streamed[d] > 0) comp[d] += f * large_extra[d];
    if (mem[d] + scratch[d] > devs[d].mem_budget_bytes * in.run.mem_safety * (1 + 1e-9)) {
      sc.memory_ok = false;
    }
    sc.latency += comp[d];
    sc.bottleneck = std::max(sc.bottleneck, comp[d]);
  }
  std::map<std::pair<int, int>, double> msg;  // one message per device pair
  for (int s = 0; s < S; ++s) {
    for (const SegmentEdge& e : segs[s].edges) {
      if (dev[s] != dev[e.to]) msg[{dev[s], dev[e.to]}] += e.bytes_per_token;
    }
  }
  if (dev[S - 1] != head) msg[{dev[S - 1], head}] += 4;  // never shared: nothing else flows back
  for (const auto& [k, bytes] : msg) {
    const LinkProfile& l = in.cluster.links[k.first][k.second];
    double ser = bytes / l.bandwidth_bytes_per_s;
    sc.latency += mean_latency(l.latency_s_median, l.latency_s_p95) + ser;
    sc.bottleneck = std::max(sc.bottleneck, ser);
  }
  return sc;
}

// Every contiguous assignment with the head first: ordered device subsets x cut points.
inline BruteResult brute_force(const Instance& in) {
  const int S = static_cast<int>(in.model.segments.size());
  const int D = static_cast<int>(in.cluster.devices.size());
  int head = 0;
  for (int d = 0; d < D; ++d) {
    if (in.cluster.devices[d].head) head = d;
  }
  BruteResult br;
  std::vector<int> dev(S, head);
  std::vector<bool> used(D, false);
  used[head] = true;
  // Extends the run of device `cur`, which started at or before s, either through s or by
  // handing s to a fresh device.
  std::function<void(int, int)> rec = [&](int s, int cur) {
    if (s == S) {
      Score sc = score(in, dev);
      if (!sc.memory_ok) return;
      br.feasible = true;
      br.best_latency = std::min(br.best_latency, sc.latency);
      br.best_bottleneck = std::min(br.best_bottleneck, sc.bottleneck);
      return;
    }
    dev[s] = cur;
    rec(s + 1, cur);
    for (int d = 0; d < D; ++d) {
      if (used[d]) continue;
      used[d] = true;
      dev[s] = d;
      rec(s + 1, d);
      used[d] = false;
    }
  };
  dev[0] = head;
  rec(1, head);
  return br;
}

inline bool rel_close(double a, double b, double tol = 1e-6) {
  return std::fabs(a - b) <= tol * std::max({1e-12, std::fabs(a), std::fabs(b)});
}

}  // namespace ll::plan::testing
