#include "server/cluster_info.h"

#include <chrono>

namespace ll::server {

void EventLog::add(std::string kind, std::string message) {
  using namespace std::chrono;
  const double now = duration<double>(system_clock::now().time_since_epoch()).count();
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back({next_id_++, now, std::move(kind), std::move(message)});
  if (events_.size() > kMaxEvents) events_.pop_front();
}

std::vector<ClusterEvent> EventLog::after(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ClusterEvent> out;
  for (const auto& e : events_) {
    if (e.id > id) out.push_back(e);
  }
  return out;
}

}  // namespace ll::server
