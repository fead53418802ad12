#include "cluster_spec.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/hparams.h"
#include "plan/json_fields.h"
#include "plan/units.h"

namespace ll::tools {

namespace {

using plan::json_fields::bad;
using plan::json_fields::Json;

// A flagship (the head, where the user is), a mid-range and a budget phone on Wi-Fi. Speeds
// are the decode-rate ratios of examples/devices/phones3.json (24, 9.6 and 4.8 GB/s), links
// its one-way figures from each phone. Memory budgets are shares of the model file, so that no
// phone holds a model alone (a 1b model included) while all three together do.
constexpr const char* kPhones3 = R"({
  "head":    {"name": "flagship", "threads": 1, "speed": 1.0, "mem_budget": "75%",
              "latency_ms": 3, "latency_p95_ms": 9,  "bandwidth": "200Mbit/s"},
  "workers": [
             {"name": "midrange", "threads": 1, "speed": 0.4, "mem_budget": "60%",
              "latency_ms": 5, "latency_p95_ms": 15, "bandwidth": "100Mbit/s"},
             {"name": "budget",   "threads": 1, "speed": 0.2, "mem_budget": "50%",
              "latency_ms": 8, "latency_p95_ms": 25, "bandwidth": "50Mbit/s", "loss": 0.001}
  ]
})";

Result<double> number_in(const Json& j, const char* key, const std::string& path, double lo,
                         double hi, const char* range) {
  LL_ASSIGN_OR_RETURN(double v, plan::json_fields::number(j, key, path));
  if (!(v >= lo && v <= hi)) return bad(path + "." + key, std::string("must be ") + range);
  return v;
}

Result<std::vector<runtime::SpeedStep>> parse_schedule(const Json& j, const std::string& path) {
  if (!j.is_array()) return bad(path, "expected an array of {\"at_s\": s, \"speed\": x}");
  std::vector<runtime::SpeedStep> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string p = path + "[" + std::to_string(i) + "]";
    if (!j[i].is_object()) return bad(p, "expected {\"at_s\": s, \"speed\": x}");
    LL_RETURN_IF_ERROR(plan::json_fields::only_keys(j[i], p, {"at_s", "speed"}));
    runtime::SpeedStep st;
    LL_ASSIGN_OR_RETURN(st.at_s, plan::json_fields::number(j[i], "at_s", p));
    LL_ASSIGN_OR_RETURN(st.speed, plan::json_fields::number(j[i], "speed", p));
    out.push_back(st);
  }
  return out;
}

Status parse_links(const Json& j, const std::string& path, EmulatedDevice* d) {
  if (j.contains("latency_ms")) {
    LL_ASSIGN_OR_RETURN(d->latency_ms, number_in(j, "latency_ms", path, 0, 10000, "0..10000"));
  }
  if (j.contains("latency_p95_ms")) {
    LL_ASSIGN_OR_RETURN(d->latency_p95_ms,
                        number_in(j, "latency_p95_ms", path, 0, 60000, "0..60000"));
    if (d->latency_p95_ms < d->latency_ms)
      return bad(path + ".latency_p95_ms", "is below latency_ms (the median)");
  }
  if (j.contains("bandwidth")) {
    LL_ASSIGN_OR_RETURN(
        d->bandwidth_bps,
        plan::json_fields::quantity(j["bandwidth"], path + ".bandwidth", plan::parse_bandwidth));
    if (!(d->bandwidth_bps > 0)) return bad(path + ".bandwidth", "must be positive");
  }
  if (j.contains("loss")) {
    LL_ASSIGN_OR_RETURN(d->loss, number_in(j, "loss", path, 0, 0.5, "0..0.5"));
  }
  return Status::ok();
}

Result<EmulatedDevice> parse_device(const Json& j, const std::string& path) {
  if (!j.is_object()) return bad(path, "expected an object");
  if (j.contains("cpu_share"))
    return bad(path + ".cpu_share",
               "was removed: use \"speed\" (0 < speed <= 1; every operation takes 1/speed as "
               "long as on this machine, docs/cluster.md)");
  LL_RETURN_IF_ERROR(plan::json_fields::only_keys(
      j, path,
      {"name", "threads", "speed", "speed_schedule", "mem_budget", "latency_ms", "latency_p95_ms",
       "bandwidth", "loss", "comment"}));
  EmulatedDevice d;
  d.name = path;
  if (j.contains("name")) {
    LL_ASSIGN_OR_RETURN(d.name, plan::json_fields::string(j, "name", path));
  }
  if (j.contains("threads")) {
    LL_ASSIGN_OR_RETURN(d.threads, plan::json_fields::integer(j, "threads", path));
    if (d.threads < 1 || d.threads > 256) return bad(path + ".threads", "must be 1..256");
  }
  if (j.contains("speed")) {
    LL_ASSIGN_OR_RETURN(d.speed, plan::json_fields::number(j, "speed", path));
  }
  if (j.contains("speed_schedule")) {
    LL_ASSIGN_OR_RETURN(d.speed_schedule,
                        parse_schedule(j["speed_schedule"], path + ".speed_schedule"));
  }
  LL_RETURN_IF_ERROR(runtime::Throttle::validate(d.speed, d.speed_schedule, path));
  if (j.contains("mem_budget")) {
    LL_ASSIGN_OR_RETURN(d.mem_budget, plan::json_fields::string(j, "mem_budget", path));
  }
  LL_RETURN_IF_ERROR(parse_links(j, path, &d));
  return d;
}

constexpr double kRuntimeOverheadBytes = 384.0 * 1024 * 1024;

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

Result<double> run_bytes(const std::string& model_path, int n_ctx, int n_seqs) {
  LL_ASSIGN_OR_RETURN(auto f, gguf::File::open(model_path));
  LL_ASSIGN_OR_RETURN(model::HParams hp, model::read_common_hparams(*f));
  std::error_code ec;
  const auto file_bytes = static_cast<double>(std::filesystem::file_size(model_path, ec));
  if (ec) return io_error("cannot read model '" + model_path + "'");
  const double kv_bytes = 2.0 * sizeof(float) * hp.n_layer * hp.n_embd_kv() * n_ctx * n_seqs;
  return file_bytes + kv_bytes;
}

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

Result<ClusterSpec> parse_cluster_spec(const std::string& text, const std::string& what) {
  LL_ASSIGN_OR_RETURN(Json j, plan::json_fields::parse(text, what));
  if (!j.is_object()) return bad(what, "expected a JSON object");
  LL_RETURN_IF_ERROR(plan::json_fields::only_keys(j, what, {"head", "workers", "comment"}));
  ClusterSpec s;
  s.head.name = "head";
  if (j.contains("head")) {
    LL_ASSIGN_OR_RETURN(s.head, parse_device(j["head"], "head"));
  }
  if (!j.contains("workers") || !j["workers"].is_array() || j["workers"].empty())
    return bad("workers", "expected a non-empty array");
  for (size_t i = 0; i < j["workers"].size(); ++i) {
    LL_ASSIGN_OR_RETURN(EmulatedDevice d,
                        parse_device(j["workers"][i], "workers[" + std::to_string(i) + "]"));
    s.workers.push_back(d);
  }
  return s;
}

Result<ClusterSpec> load_cluster_spec(const std::string& name_or_path) {
  if (name_or_path == "phones3") return parse_cluster_spec(kPhones3, "phones3");
  std::ifstream in(name_or_path);
  if (!in)
    return not_found("device spec '" + name_or_path +
                     "' is neither a built-in spec (phones3) nor a readable file");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto s = parse_cluster_spec(text, name_or_path);
  if (!s.is_ok()) return Status(s.status().code(), name_or_path + ": " + s.status().message());
  return s;
}

std::vector<std::string> emulation_flags(const EmulatedDevice& d) {
  std::vector<std::string> f;
  if (d.speed < 1) f.insert(f.end(), {"--speed", num(d.speed)});
  if (!d.speed_schedule.empty()) {
    std::string s;
    for (const auto& st : d.speed_schedule)
      s += (s.empty() ? "" : ",") + num(st.at_s) + ":" + num(st.speed);
    f.insert(f.end(), {"--speed-schedule", s});
  }
  if (d.latency_ms > 0) f.insert(f.end(), {"--latency-ms", num(d.latency_ms)});
  if (d.latency_p95_ms > 0) f.insert(f.end(), {"--latency-p95-ms", num(d.latency_p95_ms)});
  if (d.bandwidth_bps > 0) f.insert(f.end(), {"--bandwidth", num(d.bandwidth_bps) + "B/s"});
  if (d.loss > 0) f.insert(f.end(), {"--loss", num(d.loss)});
  return f;
}

Result<runtime::LocalClusterOptions> local_cluster_options(const ClusterSpec& spec,
                                                           double model_bytes, bool insecure,
                                                           const std::string& cache_root) {
  runtime::LocalClusterOptions o;
  o.insecure = insecure;
  for (const EmulatedDevice& d : spec.workers) {
    runtime::LocalWorkerSpec w;
    w.name = d.name;
    // Profiles are cached per speed by the profiler; the dir is per device name.
    w.args = {"--threads", std::to_string(d.threads), "--cache-dir", cache_root + "/" + d.name};
    LL_ASSIGN_OR_RETURN(double budget, resolve_budget(d.mem_budget, model_bytes));
    if (budget > 0) {
      w.args.insert(w.args.end(), {"--mem-budget", std::to_string(static_cast<long long>(budget))});
      // The budget holds weights and KV cache; the process also needs its runtime and the
      // profiler's buffers (up to ~260 MB: its 256 MiB large-working-set probe), so the hard
      // limit has room for them.
      w.mem_limit_bytes = budget + kRuntimeOverheadBytes;
    }
    const auto emu = emulation_flags(d);
    w.args.insert(w.args.end(), emu.begin(), emu.end());
    o.workers.push_back(std::move(w));
  }
  return o;
}

}  // namespace ll::tools
