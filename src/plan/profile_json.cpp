#include "plan/profile_json.h"

#include "plan/json_fields.h"
#include "plan/units.h"

namespace ll::plan {

using namespace json_fields;

namespace {

Json rate_table_json(const RateTable& t) {
  Json j = Json::object();
  for (const auto& [type, v] : t.by_type) j[std::string(dtype_name(type))] = v;
  if (t.fallback > 0) j["default"] = t.fallback;
  return j;
}

Status read_optional(const Json& j, const std::string& path, DeviceProfile* d) {
  if (j.contains("arch")) {
    LL_ASSIGN_OR_RETURN(d->arch, string(j, "arch", path));
  }
  if (j.contains("threads")) {
    LL_ASSIGN_OR_RETURN(d->threads, integer(j, "threads", path));
    if (d->threads < 1) return bad(path + ".threads", "expected an integer >= 1");
  }
  if (j.contains("head")) {
    LL_ASSIGN_OR_RETURN(d->head, boolean(j, "head", path));
  }
  LL_ASSIGN_OR_RETURN(d->prefill_flops_per_s,
                      rates(j, path, "prefill", parse_flop_rate, "prefill_gflops", 1e9));
  LL_ASSIGN_OR_RETURN(d->decode4_bytes_per_s,
                      rates(j, path, "decode4", parse_bandwidth, "decode4_gbps", 1e9));
  LL_ASSIGN_OR_RETURN(d->decode_large_bytes_per_s,
                      rates(j, path, "decode_large", parse_bandwidth, "decode_large_gbps", 1e9));
  LL_ASSIGN_OR_RETURN(double other, one_of(j, path, "other", parse_flop_rate, "other_gflops", 1e9));
  d->other_flops_per_s = other < 0 ? 0 : other;
  LL_ASSIGN_OR_RETURN(double ovh, one_of(j, path, "overhead", parse_duration, "overhead_ms", 1e-3));
  d->per_segment_overhead_s = ovh < 0 ? 0 : ovh;
  return Status::ok();
}

}  // namespace

nlohmann::json device_profile_to_json(const DeviceProfile& p) {
  Json j;
  j["name"] = p.name;
  j["arch"] = p.arch;
  j["threads"] = p.threads;
  j["mem_budget"] = p.mem_budget_bytes;
  if (p.head) j["head"] = true;
  j["decode"] = rate_table_json(p.decode_bytes_per_s);
  if (!p.prefill_flops_per_s.empty()) j["prefill"] = rate_table_json(p.prefill_flops_per_s);
  if (!p.decode4_bytes_per_s.empty()) j["decode4"] = rate_table_json(p.decode4_bytes_per_s);
  if (!p.decode_large_bytes_per_s.empty())
    j["decode_large"] = rate_table_json(p.decode_large_bytes_per_s);
  j["other"] = p.other_flops_per_s;
  j["overhead"] = p.per_segment_overhead_s;
  return j;
}

Result<DeviceProfile> device_profile_from_json(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) return bad(path, "expected an object");
  LL_RETURN_IF_ERROR(only_keys(
      j, path,
      {"name", "arch", "threads", "mem_budget", "head", "decode", "decode_gbps", "prefill",
       "prefill_gflops", "decode4", "decode4_gbps", "decode_large", "decode_large_gbps", "other",
       "other_gflops", "overhead", "overhead_ms", "comment"}));
  DeviceProfile d;
  LL_ASSIGN_OR_RETURN(d.name, string(j, "name", path));
  LL_RETURN_IF_ERROR(read_optional(j, path, &d));
  if (!j.contains("mem_budget")) return bad(path + ".mem_budget", "missing (e.g. \"2GiB\")");
  LL_ASSIGN_OR_RETURN(d.mem_budget_bytes,
                      quantity(j["mem_budget"], path + ".mem_budget", parse_size));
  if (!(d.mem_budget_bytes > 0)) return bad(path + ".mem_budget", "must be positive");
  LL_ASSIGN_OR_RETURN(d.decode_bytes_per_s,
                      rates(j, path, "decode", parse_bandwidth, "decode_gbps", 1e9));
  if (d.decode_bytes_per_s.empty()) {
    return bad(path, "missing decode rate (\"decode\": \"10GB/s\" or \"decode_gbps\": 10)");
  }
  return d;
}

Result<DeviceProfile> device_profile_from_text(std::string_view text, const std::string& path) {
  LL_ASSIGN_OR_RETURN(Json j, parse(text, path));
  return device_profile_from_json(j, path);
}

}  // namespace ll::plan
