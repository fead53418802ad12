// What the server knows about its ring besides the ring itself: the plan that placed it, the
// devices in ring order and a log of events (deploys, rebalances, failovers). Filled by whoever
// builds the ring (make_backend, `serve`'s networked ring) and read by GET /v1/cluster/status.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ll::server {

struct ClusterEvent {
  uint64_t id = 0;      // increasing from 1; clients ask for the ones after the last they saw
  double unix_s = 0;    // wall clock
  std::string kind;     // "deploy", "plan", "rebalance", "failover", "device_down", "serve", ...
  std::string message;  // one line for people
};

// Thread-safe; keeps the newest kMaxEvents.
class EventLog {
 public:
  static constexpr size_t kMaxEvents = 200;
  void add(std::string kind, std::string message);
  std::vector<ClusterEvent> after(uint64_t id) const;

 private:
  mutable std::mutex mu_;
  std::deque<ClusterEvent> events_;
  uint64_t next_id_ = 1;
};

struct ClusterDevice {
  std::string name;
  std::string address;   // "" for the head (this process) and in-process devices
  int first_layer = -1;  // transformer blocks held, inclusive; -1 when unknown
  int last_layer = -1;
};

struct ClusterInfo {
  // Ring order, head first. Without a plan (in-process ring) this is all that is known.
  std::vector<ClusterDevice> devices;
  nlohmann::json plan;   // plan::render_json output (docs/plan.md "Plan JSON"), null if unplanned
  std::string plan_svg;  // plan::render_svg output, "" if unplanned
  EventLog events;
};

}  // namespace ll::server
