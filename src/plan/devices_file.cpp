#include "plan/devices_file.h"

#include <fstream>
#include <sstream>

#include "plan/json_fields.h"
#include "plan/profile_json.h"
#include "plan/units.h"

namespace ll::plan {

namespace {

using namespace json_fields;

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
  LL_ASSIGN_OR_RETURN(Json root, parse(text, "devices file"));
  if (!root.is_object()) return corrupt("devices file: expected a JSON object at the top");
  LL_RETURN_IF_ERROR(only_keys(root, "devices file",
                               {"devices", "links", "default_link", "run", "comment", "name"}));
  DevicesFile f;
  if (!root.contains("devices") || !root["devices"].is_array() || root["devices"].empty()) {
    return bad("devices", "expected a non-empty array");
  }
  for (size_t i = 0; i < root["devices"].size(); ++i) {
    LL_ASSIGN_OR_RETURN(
        DeviceProfile d,
        device_profile_from_json(root["devices"][i], "devices[" + std::to_string(i) + "]"));
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
