// The head's generation flow, shared by `run` (remote workers) and `cluster` (local ones).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include "common.h"
#include "net/cluster_key.h"

#include "runtime/net_ring.h"
#include "runtime/throttle.h"
#include "tokenizer/tokenizer.h"

namespace ll::tools {

struct HeadFlags {
  std::string model, prompt, prompt_ids, objective = "latency", key_file,
                                         cache_dir = ".lingualinked-cache", mem_budget;
  int n_predict = 64, threads = 1, ctx = 0, max_seqs = 1;
  int streams = 1;        // concurrent requests (run_streams)
  double timeline_s = 0;  // > 0: per-device passes in --json (with --streams)
  bool json = false, insecure = false, no_bos = false, chat = false, show_plan = false;
  bool no_failover = false;
  std::string rebalance = "on";  // on: move work off devices that became slow
  double heartbeat_s = 1;
  std::string cuts;  // fixed cuts instead of planning (tests)
  SamplingFlags sampling;
  std::string placement = "plan";  // plan, even or memory
  std::string head_name;           // shown for the head device (cluster: its spec name)
  // Emulation of the head device (cluster).
  double head_latency_s = 0, head_bandwidth = 0, head_latency_p95_s = 0, head_loss = 0;
  double head_speed = 1;
  std::vector<runtime::SpeedStep> head_schedule;
  void add(CLI::App& sub);
};

int run_head(const HeadFlags& f, const std::vector<std::string>& workers,
             const net::ClusterKey& key);
// --streams N > 1: N concurrent requests on a deployed ring (run_streams.cpp).
int run_streams(const HeadFlags& f, runtime::NetRing& ring, const std::vector<int32_t>& prompt,
                const tok::Tokenizer* t);
// The planner's tok/s for what was deployed (plan or a baseline) with `streams` in flight.
double predicted_for_streams(const nlohmann::json& plan, const std::string& placement, int streams);
// --json's "devices": stage time per forward pass and bytes per token, from device_stats().
nlohmann::json devices_json(const nlohmann::json& stats, double n_steps);
// --json's "timeline": each device's passes in the last `window_s` seconds of the stats'
// traces, times from the window's start.
nlohmann::json timeline_json(const nlohmann::json& stats, double window_s);

}  // namespace ll::tools
