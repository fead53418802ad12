#include "server/cluster_status.h"

#include <algorithm>
#include <cmath>

namespace ll::server {

using nlohmann::json;

namespace {

// Unknown figures are null, never NaN (which JSON cannot carry).
json num(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

const json* plan_devices(const json& plan) {
  if (!plan.is_object() || !plan.contains("plan")) return nullptr;
  const json& p = plan["plan"];
  return p.contains("devices") && p["devices"].is_array() ? &p["devices"] : nullptr;
}

json device_json(const StatusInputs& in, size_t i) {
  const ClusterInfo& ci = in.backend.cluster;
  const ClusterDevice& d = ci.devices[i];
  json j = {{"index", i},
            {"name", d.name},
            {"address", d.address},
            {"head", i == 0},
            {"layers", d.first_layer >= 0 ? json::array({d.first_layer, d.last_layer}) : json()},
            {"segments", nullptr},
            {"mem_bytes", nullptr},
            {"budget_bytes", nullptr},
            {"planned_stage_ms", nullptr},
            {"stage_ms", nullptr},
            {"steps", nullptr},
            {"busy_s", nullptr},
            {"utilization", nullptr},
            {"bytes_sent", nullptr},
            {"bytes_received", nullptr},
            {"up", true}};
  if (const json* pd = plan_devices(ci.plan); pd && i < pd->size()) {
    const json& p = (*pd)[i];
    j["segments"] = p.value("segments", json());
    j["labels"] = p.value("labels", json());
    j["mem_bytes"] = p.value("mem_bytes", json());
    j["budget_bytes"] = p.value("budget_bytes", json());
    j["planned_stage_ms"] = p.value("compute_ms", json());
  }
  if (i < in.metrics.devices.size()) {
    const DeviceMetrics& m = in.metrics.devices[i];
    j["stage_ms"] = num(m.stage_ms);
    j["steps"] = m.steps;
    j["busy_s"] = num(m.busy_s);
    j["bytes_sent"] = num(m.bytes_sent);
    j["bytes_received"] = num(m.bytes_received);
    j["up"] = m.up;
    auto u = in.utilization.find(m.name);
    if (u != in.utilization.end()) j["utilization"] = num(u->second);
  }
  return j;
}

// The ring's links: the plan's when planned (with its predicted hop time), else device i to
// i+1 and the last back to the head; measured bytes and latency when the backend has them.
json links_json(const StatusInputs& in) {
  const ClusterInfo& ci = in.backend.cluster;
  json out = json::array();
  const json& plan = ci.plan;
  if (plan.is_object() && plan.contains("plan") && plan["plan"].contains("links")) {
    for (const json& l : plan["plan"]["links"]) {
      out.push_back({{"from", l.value("from", 0)},
                     {"to", l.value("to", 0)},
                     {"from_name", l.value("from_name", "")},
                     {"to_name", l.value("to_name", "")},
                     {"kind", l.value("kind", "")},
                     {"planned_latency_ms", l.value("hop_ms", json())},
                     {"bytes_per_token", l.value("bytes_per_token", json())}});
    }
  } else {
    const size_t n = ci.devices.size();
    for (size_t i = 0; n > 1 && i < n; ++i) {
      const size_t to = (i + 1) % n;
      out.push_back({{"from", i},
                     {"to", to},
                     {"from_name", ci.devices[i].name},
                     {"to_name", ci.devices[to].name},
                     {"kind", to == 0 ? "return" : "sequential"},
                     {"planned_latency_ms", nullptr},
                     {"bytes_per_token", nullptr}});
    }
  }
  for (json& l : out) {
    l["latency_ms"] = nullptr;
    l["bytes"] = nullptr;
    for (const LinkMetrics& m : in.metrics.links) {
      if (m.from == l["from_name"].get<std::string>() && m.to == l["to_name"].get<std::string>()) {
        l["latency_ms"] = num(m.latency_ms);
        l["bytes"] = m.bytes;
      }
    }
  }
  return out;
}

}  // namespace

std::map<std::string, double> UtilizationTracker::update(const BackendMetrics& m) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  const double dt = std::chrono::duration<double>(now - last_t_).count();
  if (last_t_ != std::chrono::steady_clock::time_point{} && dt < kMinWindowS) return last_util_;
  std::map<std::string, double> util;
  for (const DeviceMetrics& d : m.devices) {
    auto prev = last_busy_.find(d.name);
    double u = std::nan("");
    if (prev != last_busy_.end() && std::isfinite(d.busy_s) && dt > 0)
      u = std::clamp((d.busy_s - prev->second) / dt, 0.0, 1.0);
    util[d.name] = u;
    last_busy_[d.name] = d.busy_s;
  }
  last_t_ = now;
  last_util_ = util;
  return util;
}

json cluster_status_json(const StatusInputs& in) {
  const Backend& b = in.backend;
  const ClusterInfo& ci = b.cluster;
  const runtime::SchedulerStats& s = in.sched;
  json j;
  j["model"] = b.model_id;
  j["ring"] = b.description;
  j["n_devices"] = b.live_devices();
  j["n_ctx"] = b.ring ? b.n_ctx() : 0;
  j["uptime_s"] = in.uptime_s;
  j["tokens_per_second"] = in.counters.token_rate.rate();
  j["tokens_generated"] = s.tokens_generated;
  j["prompt_tokens"] = in.counters.prompt_tokens.load();
  j["requests"] = {{"total", in.counters.started.load()},
                   {"completed", in.counters.completed.load()},
                   {"failed", in.counters.failed.load()},
                   {"cancelled", in.counters.cancelled.load()},
                   {"active", s.active},
                   {"queued", s.queue_depth}};
  j["ttft_avg_s"] = s.ttft_count ? json(s.ttft_sum_s / s.ttft_count) : json(nullptr);
  j["objective"] = nullptr;
  j["predicted_tok_s"] = nullptr;
  if (ci.plan.is_object() && ci.plan.contains("plan")) {
    const json& p = ci.plan["plan"];
    const std::string objective = p.value("objective", "");
    j["objective"] = objective;
    j["predicted_tok_s"] = p.value(
        objective == "throughput" ? "pipelined_tok_s_at_n_seqs" : "single_stream_tok_s", json());
  }
  j["devices"] = json::array();
  for (size_t i = 0; i < ci.devices.size(); ++i) j["devices"].push_back(device_json(in, i));
  j["links"] = links_json(in);
  j["plan_svg"] = ci.plan_svg.empty() ? json(nullptr) : json("/v1/cluster/plan.svg");
  j["events"] = json::array();
  for (const ClusterEvent& e : ci.events.after(in.events_after)) {
    j["events"].push_back(
        {{"id", e.id}, {"time", e.unix_s}, {"kind", e.kind}, {"message", e.message}});
  }
  return j;
}

std::vector<ClusterDevice> devices_from_plan(const json& plan_json,
                                             const std::vector<std::string>& workers) {
  std::vector<ClusterDevice> out;
  const json* pd = plan_devices(plan_json);
  if (!pd) return out;
  for (size_t i = 0; i < pd->size(); ++i) {
    const json& p = (*pd)[i];
    ClusterDevice d;
    d.name = p.value("name", "device" + std::to_string(i));
    const int dev = p.value("device", -1);
    if (dev > 0 && dev <= static_cast<int>(workers.size())) d.address = workers[dev - 1];
    if (p.contains("layers") && p["layers"].is_array() && p["layers"].size() == 2 &&
        p["layers"][0].is_number_integer() && p["layers"][1].is_number_integer()) {
      d.first_layer = p["layers"][0].get<int>();
      d.last_layer = p["layers"][1].get<int>();
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<ClusterDevice> devices_from_segments(const graph::Graph& g,
                                                 const graph::Segmentation& per_device) {
  std::vector<ClusterDevice> out;
  for (int i = 0; i < per_device.size(); ++i) {
    ClusterDevice d;
    d.name = "device" + std::to_string(i);
    for (int n = per_device.begin(i); n < per_device.end(i); ++n) {
      const int layer = g.nodes[n].layer;
      if (layer < 0) continue;
      if (d.first_layer < 0 || layer < d.first_layer) d.first_layer = layer;
      d.last_layer = std::max(d.last_layer, layer);
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace ll::server
