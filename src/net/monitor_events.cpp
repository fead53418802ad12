#include "net/monitor_events.h"

#include <zmq.h>
#include <cstdio>
#include <cstring>

namespace ll::net {

std::optional<MonitorEvent> read_monitor_event(void* pair_socket) {
  // Frame 1: u16 event + u32 value (native order, same process); frame 2: endpoint.
  zmq_msg_t head, addr;
  zmq_msg_init(&head);
  if (zmq_msg_recv(&head, pair_socket, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&head);
    return std::nullopt;
  }
  MonitorEvent ev;
  if (zmq_msg_size(&head) >= 6) {
    const auto* p = static_cast<const uint8_t*>(zmq_msg_data(&head));
    std::memcpy(&ev.event, p, 2);
    std::memcpy(&ev.value, p + 2, 4);
  }
  const bool more = zmq_msg_more(&head);
  zmq_msg_close(&head);
  if (more) {
    zmq_msg_init(&addr);
    if (zmq_msg_recv(&addr, pair_socket, 0) >= 0) {
      ev.address.assign(static_cast<const char*>(zmq_msg_data(&addr)), zmq_msg_size(&addr));
    }
    zmq_msg_close(&addr);
  }
  return ev;
}

bool is_handshake_failure(uint16_t event) {
  return event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
         event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
}

std::string describe_refusal(const MonitorEvent& ev, const std::string& name,
                             const std::string& address) {
  const std::string who = "peer " + name + " at " + address + " refused the handshake: ";
  switch (ev.event) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      return who + "cluster key mismatch (not authorized for this cluster, ZAP status " +
             std::to_string(ev.value) + ")";
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      if (ev.value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
        return who + "cluster key mismatch (CURVE handshake could not be decrypted)";
      }
      if (ev.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        return who + "security mismatch (one side runs --insecure, the other requires CURVE)";
      } else {
        char code[16];
        std::snprintf(code, sizeof code, "0x%08x", ev.value);
        return who + "protocol error " + code + " (not a LinguaLinked worker?)";
      }
    default:
      // The server hangs up without a word when it cannot decrypt our CURVE hello, which is
      // what a different cluster key looks like from here.
      return who + "cluster key mismatch (or not a LinguaLinked worker)";
  }
}

std::string describe_rejection(const MonitorEvent& ev) {
  if (ev.event != ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) return "";
  if (ev.value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
    return "not authorized for this cluster (wrong cluster key)";
  }
  if (ev.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
    return "security mismatch (peer connected without CURVE: --insecure on one side only?)";
  }
  char code[16];
  std::snprintf(code, sizeof code, "0x%08x", ev.value);
  return std::string("protocol error ") + code + " during handshake (not a LinguaLinked node?)";
}

std::string describe_progress(const MonitorEvent& ev) {
  switch (ev.event) {
    case ZMQ_EVENT_CONNECT_DELAYED:
      return "connecting";
    case ZMQ_EVENT_CONNECT_RETRIED:
      return "connection refused, retrying";
    case ZMQ_EVENT_CONNECTED:
      return "TCP connected, handshake pending";
    case ZMQ_EVENT_DISCONNECTED:
      return "disconnected";
    case ZMQ_EVENT_CLOSED:
      return "closed";
    default:
      return "";
  }
}

}  // namespace ll::net
