#include "plan/profile.h"

#include <cmath>
#include <set>
#include <string>

namespace ll::plan {
namespace {

bool nonneg(double v) {
  return std::isfinite(v) && v >= 0;
}

std::string seg_name(const ModelProfile& m, int s) {
  std::string n = "segments[" + std::to_string(s) + "]";
  if (!m.segments[s].label.empty()) n += " (" + m.segments[s].label + ")";
  return n;
}

}  // namespace

double RateTable::get(DType t) const {
  auto it = by_type.find(t);
  if (it != by_type.end()) return it->second;
  return fallback;
}

int Cluster::head_index() const {
  for (size_t i = 0; i < devices.size(); ++i) {
    if (devices[i].head) return static_cast<int>(i);
  }
  return 0;
}

Status validate_model(const ModelProfile& m) {
  const int n = static_cast<int>(m.segments.size());
  if (n == 0) return invalid_argument("model '" + m.name + "' has no segments");
  for (int s = 0; s < n; ++s) {
    const Segment& g = m.segments[s];
    for (double v : {g.flops_decode, g.flops_other, g.flops_prefill_per_token,
                     g.weight_bytes_resident, g.kv_bytes_per_token, g.scratch_bytes}) {
      if (!nonneg(v)) return invalid_argument(seg_name(m, s) + ": negative or non-finite field");
    }
    for (const auto& [t, b] : g.weight_bytes_by_type) {
      if (!nonneg(b)) {
        return invalid_argument(seg_name(m, s) + ".weight_bytes_by_type[" +
                                std::string(dtype_name(t)) + "] is negative or non-finite");
      }
    }
    for (const SegmentEdge& e : g.edges) {
      if (e.to <= s || e.to >= n) {
        return invalid_argument(seg_name(m, s) + ": edge to segment " + std::to_string(e.to) +
                                " must point forward within 0.." + std::to_string(n - 1));
      }
      if (!nonneg(e.bytes_per_token)) {
        return invalid_argument(seg_name(m, s) + ": edge bytes_per_token is negative");
      }
    }
  }
  return Status::ok();
}

Status validate_cluster(const Cluster& c) {
  const size_t n = c.devices.size();
  if (n == 0) return invalid_argument("cluster has no devices");
  std::set<std::string> names;
  int heads = 0;
  for (size_t i = 0; i < n; ++i) {
    const DeviceProfile& d = c.devices[i];
    std::string where = "devices[" + std::to_string(i) + "]";
    if (d.name.empty()) return invalid_argument(where + ".name is empty");
    if (!names.insert(d.name).second) {
      return invalid_argument(where + ".name: duplicate device name '" + d.name + "'");
    }
    if (!(d.mem_budget_bytes > 0) || !std::isfinite(d.mem_budget_bytes)) {
      return invalid_argument(where + ".mem_budget must be positive");
    }
    if (d.threads < 1) return invalid_argument(where + ".threads must be >= 1");
    if (!nonneg(d.other_flops_per_s) || !nonneg(d.per_segment_overhead_s)) {
      return invalid_argument(where + ": rates and overhead must be non-negative");
    }
    if (d.head) ++heads;
  }
  if (heads > 1) return invalid_argument("more than one device has head: true");
  if (c.links.size() != n) return invalid_argument("links matrix must be devices x devices");
  for (size_t a = 0; a < n; ++a) {
    if (c.links[a].size() != n) return invalid_argument("links matrix must be devices x devices");
    for (size_t b = 0; b < n; ++b) {
      if (a == b) continue;
      const LinkProfile& l = c.links[a][b];
      std::string where = "link " + c.devices[a].name + " -> " + c.devices[b].name;
      if (!(l.bandwidth_bytes_per_s > 0) || !std::isfinite(l.bandwidth_bytes_per_s)) {
        return invalid_argument(where + ": bandwidth must be positive");
      }
      if (!nonneg(l.latency_s_median) || !nonneg(l.latency_s_p95)) {
        return invalid_argument(where + ": latency must be non-negative");
      }
    }
  }
  return Status::ok();
}

Status validate_inputs(const ModelProfile& m, const Cluster& c, const RunConfig& run) {
  LL_RETURN_IF_ERROR(validate_model(m));
  LL_RETURN_IF_ERROR(validate_cluster(c));
  if (run.ctx < 0) return invalid_argument("run.ctx must be >= 0");
  if (!std::isfinite(run.attn_pos) || run.attn_pos > static_cast<double>(run.ctx))
    return invalid_argument(
        "run.attn_pos must be a finite position within the context (< 0: half of it)");
  if (run.n_seqs < 1) return invalid_argument("run.n_seqs must be >= 1");
  if (!(run.mem_safety > 0 && run.mem_safety <= 1)) {
    return invalid_argument("run.mem_safety must be in (0, 1]");
  }
  // A device lacking a rate a segment needs would make its time infinite: say so up front.
  for (size_t s = 0; s < m.segments.size(); ++s) {
    const Segment& g = m.segments[s];
    for (size_t i = 0; i < c.devices.size(); ++i) {
      const DeviceProfile& d = c.devices[i];
      for (const auto& [t, b] : g.weight_bytes_by_type) {
        if (b > 0 && !(d.decode_bytes_per_s.get(t) > 0)) {
          return invalid_argument("devices[" + std::to_string(i) + "].decode: no rate for " +
                                  std::string(dtype_name(t)) + " (used by " +
                                  seg_name(m, static_cast<int>(s)) + ") and no default");
        }
      }
      if (g.flops_other > 0 && !(d.other_flops_per_s > 0)) {
        return invalid_argument("devices[" + std::to_string(i) + "].other_gflops is missing (" +
                                seg_name(m, static_cast<int>(s)) + " has attention FLOPs)");
      }
    }
  }
  return Status::ok();
}

}  // namespace ll::plan
