// zmq socket-monitor events, and the words we use to explain handshake failures to users
// on both sides of a refused link.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ll::net {

struct MonitorEvent {
  uint16_t event = 0;  // ZMQ_EVENT_*
  uint32_t value = 0;  // fd, errno, protocol error or ZAP status, depending on the event
  std::string address;
};

// Non-blocking read of one event from the PAIR socket attached to a monitor.
std::optional<MonitorEvent> read_monitor_event(void* pair_socket);

bool is_handshake_failure(uint16_t event);

// Client side: why peer `name` at `address` did not let us in.
std::string describe_refusal(const MonitorEvent& ev, const std::string& name,
                             const std::string& address);

// Server side: why we turned away a connecting peer (without the "rejected peer X: ").
// Empty for failures that are not a refusal (a peer that hung up mid-handshake).
std::string describe_rejection(const MonitorEvent& ev);

// "connection refused, retrying", ... for timeout messages; empty for uninteresting events.
std::string describe_progress(const MonitorEvent& ev);

}  // namespace ll::net
