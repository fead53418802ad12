#include "cluster_spec.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "plan/units.h"

namespace ll::tools {

namespace {

// One high-end, one mid-range, one low-end phone on Wi-Fi-like links. The head is the
// high-end phone (where the user is); memory budgets are shares of the model so that no phone
// holds it alone.
constexpr const char* kPhones3 = R"({
  "head":    {"name": "phone-high", "threads": 1, "cpu_share": 1.0,  "mem_budget": "60%", "latency_ms": 3,  "bandwidth": "200Mbit/s"},
  "workers": [
             {"name": "phone-mid",  "threads": 1, "cpu_share": 0.5,  "mem_budget": "60%", "latency_ms": 5,  "bandwidth": "100Mbit/s"},
             {"name": "phone-low",  "threads": 1, "cpu_share": 0.3,  "mem_budget": "60%", "latency_ms": 10, "bandwidth": "50Mbit/s"}
  ]
})";

Result<double> parse_rate(const std::string& s, const std::string& field) {
  auto r = plan::parse_bandwidth(s);
  if (!r.is_ok())
    return invalid_argument(field + ": expected a rate like 100Mbit/s, got '" + s + "'");
  return *r;
}

Result<EmulatedDevice> parse_device(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) return invalid_argument(where + ": expected an object");
  EmulatedDevice d;
  try {
    d.name = j.value("name", where);
    d.threads = j.value("threads", 1);
    d.cpu_share = j.value("cpu_share", 1.0);
    d.mem_budget = j.value("mem_budget", std::string());
    d.latency_ms = j.value("latency_ms", 0.0);
    if (j.contains("bandwidth")) {
      LL_ASSIGN_OR_RETURN(d.bandwidth_bps,
                          parse_rate(j["bandwidth"].get<std::string>(), where + ".bandwidth"));
    }
  } catch (const std::exception& e) {
    return invalid_argument(where + ": " + e.what());
  }
  if (d.threads < 1 || d.threads > 256) return invalid_argument(where + ".threads: must be 1..256");
  if (!(d.cpu_share > 0 && d.cpu_share <= 64))
    return invalid_argument(where + ".cpu_share: must be in (0, 64]");
  if (d.latency_ms < 0 || d.latency_ms > 10000)
    return invalid_argument(where + ".latency_ms: must be 0..10000");
  return d;
}

}  // namespace

Result<double> resolve_budget(const std::string& s, double model_bytes) {
  if (s.empty()) return 0.0;
  if (s.back() == '%') {
    try {
      return std::stod(s.substr(0, s.size() - 1)) / 100.0 * model_bytes;
    } catch (...) {
      return invalid_argument("mem_budget: bad percentage '" + s + "'");
    }
  }
  return plan::parse_size(s);
}

ClusterSpec uniform_spec(int n_workers, int threads) {
  ClusterSpec s;
  s.head.name = "head";
  s.head.threads = threads;
  for (int i = 0; i < n_workers; ++i) {
    EmulatedDevice d;
    d.name = "dev" + std::to_string(i + 1);
    d.threads = threads;
    s.workers.push_back(d);
  }
  return s;
}

Result<ClusterSpec> load_cluster_spec(const std::string& name_or_path) {
  std::string text;
  if (name_or_path == "phones3") {
    text = kPhones3;
  } else {
    std::ifstream in(name_or_path);
    if (!in)
      return not_found("device spec '" + name_or_path +
                       "' is neither a built-in spec (phones3) nor a readable file");
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return invalid_argument(name_or_path + ": not a JSON object");
  ClusterSpec s;
  if (j.contains("head")) {
    LL_ASSIGN_OR_RETURN(s.head, parse_device(j["head"], "head"));
  }
  if (!j.contains("workers") || !j["workers"].is_array() || j["workers"].empty())
    return invalid_argument(name_or_path + ": 'workers' must be a non-empty array");
  for (size_t i = 0; i < j["workers"].size(); ++i) {
    LL_ASSIGN_OR_RETURN(EmulatedDevice d,
                        parse_device(j["workers"][i], "workers[" + std::to_string(i) + "]"));
    s.workers.push_back(d);
  }
  return s;
}

Result<runtime::LocalClusterOptions> local_cluster_options(const ClusterSpec& spec,
                                                           double model_bytes, bool insecure,
                                                           const std::string& cache_root) {
  runtime::LocalClusterOptions o;
  o.insecure = insecure;
  for (const EmulatedDevice& d : spec.workers) {
    runtime::LocalWorkerSpec w;
    w.name = d.name;
    w.cpu_share = d.cpu_share;
    w.args = {"--threads", std::to_string(d.threads), "--cache-dir",
              cache_root + "/" + d.name + "-cpu" + std::to_string(d.cpu_share)};
    LL_ASSIGN_OR_RETURN(double budget, resolve_budget(d.mem_budget, model_bytes));
    if (budget > 0)
      w.args.insert(w.args.end(), {"--mem-budget", std::to_string(static_cast<long long>(budget))});
    if (d.latency_ms > 0) w.args.insert(w.args.end(), {"--latency-ms", std::to_string(d.latency_ms)});
    if (d.bandwidth_bps > 0)
      w.args.insert(w.args.end(),
                    {"--bandwidth", std::to_string(static_cast<long long>(d.bandwidth_bps))});
    o.workers.push_back(std::move(w));
  }
  return o;
}

}  // namespace ll::tools
