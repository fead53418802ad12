#include "plan/devices_file.h"

#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <sstream>

#include "plan/units.h"

#ifdef LL_HAVE_JSON
#include <nlohmann/json.hpp>
#endif

namespace ll::plan {

#ifndef LL_HAVE_JSON

Result<DevicesFile> parse_devices_json(std::string_view) {
  return unsupported("built without nlohmann_json: cannot read devices files");
}

#else

namespace {

using Json = nlohmann::json;
using UnitParser = std::function<Result<double>(std::string_view)>;

Status bad(const std::string& path, const std::string& what) {
  return invalid_argument(path + ": " + what);
}

Status only_keys(const Json& obj, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : obj.items()) {
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || k == a;
    if (!ok) return bad(path, "unknown field \"" + k + "\"");
  }
  return Status::ok();
}

// A quantity given as a string with units, or as a bare number times `number_scale`.
Result<double> quantity(const Json& v, const std::string& path, const UnitParser& parse,
                        double number_scale = 1) {
  if (v.is_number()) {
    double x = v.get<double>();
    if (!(x >= 0)) return bad(path, "must be >= 0");
    return x * number_scale;
  }
  if (v.is_string()) {
    Result<double> r = parse(v.get<std::string>());
    if (!r.is_ok()) return bad(path, r.status().message());
    return r;
  }
  return bad(path, "expected a number or a string with units");
}

// Reads one of two spellings of a field: `with_units` (string or base-unit number) or
// `scaled` (a plain number in a documented unit). Returns -1 when neither is present.
Result<double> one_of(const Json& obj, const std::string& path, const char* with_units,
                      const UnitParser& parse, const char* scaled, double scale) {
  bool a = obj.contains(with_units), b = scaled && obj.contains(scaled);
  if (a && b) {
    return bad(path, std::string("give either ") + with_units + " or " + scaled + ", not both");
  }
  if (a) return quantity(obj[with_units], path + "." + with_units, parse);
  if (b) {
    if (!obj[scaled].is_number()) return bad(path + "." + scaled, "expected a number");
    return quantity(obj[scaled], path + "." + scaled, parse, scale);
  }
  return -1.0;
}

// A rate per DType: a single value for all types, or {"Q8_0": ..., "default": ...}.
Result<RateTable> rate_table(const Json& v, const std::string& path, const UnitParser& parse,
                             double number_scale) {
  RateTable t;
  if (!v.is_object()) {
    LL_ASSIGN_OR_RETURN(t.fallback, quantity(v, path, parse, number_scale));
    return t;
  }
  for (const auto& [k, x] : v.items()) {
    LL_ASSIGN_OR_RETURN(double r, quantity(x, path + "." + k, parse, number_scale));
    if (k == "default") {
      t.fallback = r;
    } else if (auto type = dtype_from_name(k)) {
      t.by_type[*type] = r;
    } else {
      return bad(path, "unknown type \"" + k + "\" (use " + std::string(supported_type_names()) +
                           " or default)");
    }
  }
  return t;
}

Result<RateTable> rates(const Json& obj, const std::string& path, const char* with_units,
                        const UnitParser& parse, const char* scaled, double scale) {
  bool a = obj.contains(with_units), b = obj.contains(scaled);
  if (a && b) {
    return bad(path, std::string("give either ") + with_units + " or " + scaled + ", not both");
  }
  if (a) return rate_table(obj[with_units], path + "." + with_units, parse, 1);
  if (b) return rate_table(obj[scaled], path + "." + scaled, parse, scale);
  return RateTable{};
}

Result<DeviceProfile> parse_device(const Json& j, const std::string& path) {
  if (!j.is_object()) return bad(path, "expected an object");
  LL_RETURN_IF_ERROR(only_keys(
      j, path,
      {"name", "arch", "threads", "mem_budget", "head", "decode", "decode_gbps", "prefill",
       "prefill_gflops", "other", "other_gflops", "overhead", "overhead_ms", "comment"}));
  DeviceProfile d;
  if (!j.contains("name") || !j["name"].is_string())
    return bad(path + ".name", "expected a string");
  d.name = j["name"].get<std::string>();
  if (j.contains("arch")) {
    if (!j["arch"].is_string()) return bad(path + ".arch", "expected a string");
    d.arch = j["arch"].get<std::string>();
  }
  if (j.contains("threads")) {
    if (!j["threads"].is_number_integer() || j["threads"].get<int>() < 1) {
      return bad(path + ".threads", "expected an integer >= 1");
    }
    d.threads = j["threads"].get<int>();
  }
  if (j.contains("head")) {
    if (!j["head"].is_boolean()) return bad(path + ".head", "expected true or false");
    d.head = j["head"].get<bool>();
  }
  if (!j.contains("mem_budget")) return bad(path + ".mem_budget", "missing (e.g. \"2GiB\")");
  LL_ASSIGN_OR_RETURN(d.mem_budget_bytes,
                      quantity(j["mem_budget"], path + ".mem_budget", parse_size));
  if (!(d.mem_budget_bytes > 0)) return bad(path + ".mem_budget", "must be positive");
  LL_ASSIGN_OR_RETURN(d.decode_bytes_per_s,
                      rates(j, path, "decode", parse_bandwidth, "decode_gbps", 1e9));
  if (d.decode_bytes_per_s.empty()) {
    return bad(path, "missing decode rate (\"decode\": \"10GB/s\" or \"decode_gbps\": 10)");
  }
  LL_ASSIGN_OR_RETURN(d.prefill_flops_per_s,
                      rates(j, path, "prefill", parse_flop_rate, "prefill_gflops", 1e9));
  LL_ASSIGN_OR_RETURN(double other, one_of(j, path, "other", parse_flop_rate, "other_gflops", 1e9));
  d.other_flops_per_s = other < 0 ? 0 : other;
  LL_ASSIGN_OR_RETURN(double ovh, one_of(j, path, "overhead", parse_duration, "overhead_ms", 1e-3));
  d.per_segment_overhead_s = ovh < 0 ? 0 : ovh;
  return d;
}

// Fields of a link; those absent keep the values already in `l` (from default_link).
Status parse_link_fields(const Json& j, const std::string& path, LinkProfile* l, bool* has_lat,
                         bool* has_bw) {
  LL_ASSIGN_OR_RETURN(double lat, one_of(j, path, "latency", parse_duration, "latency_ms", 1e-3));
  LL_ASSIGN_OR_RETURN(double p95,
                      one_of(j, path, "latency_p95", parse_duration, "latency_p95_ms", 1e-3));
  LL_ASSIGN_OR_RETURN(double bw,
                      one_of(j, path, "bandwidth", parse_bandwidth, "bandwidth_mbps", 1e6 / 8));
  if (lat >= 0) {
    l->latency_s_median = lat;
    l->latency_s_p95 = lat;  // unless given below
    *has_lat = true;
  }
  if (p95 >= 0) l->latency_s_p95 = p95;
  if (p95 >= 0 && p95 < l->latency_s_median) {
    return bad(path + ".latency_p95", "is below the median latency");
  }
  if (bw >= 0) {
    if (!(bw > 0)) return bad(path + ".bandwidth", "must be positive");
    l->bandwidth_bytes_per_s = bw;
    *has_bw = true;
  }
  return Status::ok();
}

Result<int> device_index(const Json& j, const std::string& path, const Cluster& c) {
  if (!j.is_string()) return bad(path, "expected a device name");
  std::string n = j.get<std::string>();
  for (size_t i = 0; i < c.devices.size(); ++i) {
    if (c.devices[i].name == n) return static_cast<int>(i);
  }
  return bad(path, "no device named \"" + n + "\"");
}

Result<RunConfig> parse_run(const Json& j) {
  if (!j.is_object()) return bad("run", "expected an object");
  LL_RETURN_IF_ERROR(only_keys(j, "run", {"ctx", "n_seqs", "mem_safety", "comment"}));
  RunConfig r;
  if (j.contains("ctx")) {
    if (!j["ctx"].is_number_integer() || j["ctx"].get<int64_t>() < 0) {
      return bad("run.ctx", "expected an integer >= 0");
    }
    r.ctx = j["ctx"].get<int64_t>();
  }
  if (j.contains("n_seqs")) {
    if (!j["n_seqs"].is_number_integer() || j["n_seqs"].get<int>() < 1) {
      return bad("run.n_seqs", "expected an integer >= 1");
    }
    r.n_seqs = j["n_seqs"].get<int>();
  }
  if (j.contains("mem_safety")) {
    double m = j["mem_safety"].is_number() ? j["mem_safety"].get<double>() : -1;
    if (!(m > 0 && m <= 1)) return bad("run.mem_safety", "expected a number in (0, 1]");
    r.mem_safety = m;
  }
  return r;
}

}  // namespace

Result<DevicesFile> parse_devices_json(std::string_view text) {
  Json root;
  try {
    root = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return corrupt(std::string("devices file is not valid JSON: ") + e.what());
  }
  if (!root.is_object()) return corrupt("devices file: expected a JSON object at the top");
  LL_RETURN_IF_ERROR(only_keys(root, "devices file",
                               {"devices", "links", "default_link", "run", "comment", "name"}));
  DevicesFile f;
  if (!root.contains("devices") || !root["devices"].is_array() || root["devices"].empty()) {
    return bad("devices", "expected a non-empty array");
  }
  for (size_t i = 0; i < root["devices"].size(); ++i) {
    LL_ASSIGN_OR_RETURN(DeviceProfile d,
                        parse_device(root["devices"][i], "devices[" + std::to_string(i) + "]"));
    f.cluster.devices.push_back(std::move(d));
  }
  const size_t n = f.cluster.devices.size();
  LinkProfile def;
  bool def_lat = false, def_bw = false;
  if (root.contains("default_link")) {
    const Json& j = root["default_link"];
    if (!j.is_object()) return bad("default_link", "expected an object");
    LL_RETURN_IF_ERROR(only_keys(j, "default_link",
                                 {"latency", "latency_ms", "latency_p95", "latency_p95_ms",
                                  "bandwidth", "bandwidth_mbps", "comment"}));
    LL_RETURN_IF_ERROR(parse_link_fields(j, "default_link", &def, &def_lat, &def_bw));
  }
  std::vector<std::vector<LinkProfile> > links(n, std::vector<LinkProfile>(n, def));
  std::vector<std::vector<char> > set(n, std::vector<char>(n, def_lat && def_bw));
  if (root.contains("links")) {
    if (!root["links"].is_array()) return bad("links", "expected an array");
    for (size_t i = 0; i < root["links"].size(); ++i) {
      const Json& j = root["links"][i];
      std::string path = "links[" + std::to_string(i) + "]";
      if (!j.is_object()) return bad(path, "expected an object");
      LL_RETURN_IF_ERROR(
          only_keys(j, path,
                    {"from", "to", "symmetric", "latency", "latency_ms", "latency_p95",
                     "latency_p95_ms", "bandwidth", "bandwidth_mbps", "comment"}));
      LL_ASSIGN_OR_RETURN(int a, device_index(j.value("from", Json()), path + ".from", f.cluster));
      LL_ASSIGN_OR_RETURN(int b, device_index(j.value("to", Json()), path + ".to", f.cluster));
      if (a == b) return bad(path, "from and to are the same device");
      LinkProfile l = def;
      bool has_lat = def_lat, has_bw = def_bw;
      LL_RETURN_IF_ERROR(parse_link_fields(j, path, &l, &has_lat, &has_bw));
      if (!has_lat || !has_bw) return bad(path, "needs latency and bandwidth (or a default_link)");
      bool sym = true;
      if (j.contains("symmetric")) {
        if (!j["symmetric"].is_boolean()) return bad(path + ".symmetric", "expected true or false");
        sym = j["symmetric"].get<bool>();
      }
      links[a][b] = l;
      set[a][b] = 1;
      if (sym) {
        links[b][a] = l;
        set[b][a] = 1;
      }
    }
  }
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      if (a != b && !set[a][b]) {
        return bad("links", "no link from " + f.cluster.devices[a].name + " to " +
                                f.cluster.devices[b].name + " and no default_link");
      }
    }
  }
  f.cluster.links = std::move(links);
  if (root.contains("run")) {
    LL_ASSIGN_OR_RETURN(RunConfig r, parse_run(root["run"]));
    f.run = r;
  }
  LL_RETURN_IF_ERROR(validate_cluster(f.cluster));
  return f;
}

#endif

Result<DevicesFile> load_devices_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open devices file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  Result<DevicesFile> r = parse_devices_json(ss.str());
  if (!r.is_ok()) return Status(r.status().code(), path + ": " + r.status().message());
  return r;
}

}  // namespace ll::plan
