#include "net/zap_handler.h"

#include <zmq.h>
#include <cerrno>
#include <vector>

namespace ll::net {

Result<std::unique_ptr<ZapHandler>> ZapHandler::create(zmq::context_t& ctx,
                                                       const std::string& cluster_public_z85) {
  uint8_t raw[32];
  if (zmq_z85_decode(raw, cluster_public_z85.c_str()) == nullptr) {
    return invalid_argument("cluster public key is not valid Z85");
  }
  try {
    zmq::socket_t sock(ctx, zmq::socket_type::rep);
    sock.set(zmq::sockopt::linger, 0);
    if (zmq_bind(sock.handle(), kZapEndpoint) != 0) {
      return internal_error(std::string("cannot bind ZAP handler: ") + zmq_strerror(errno));
    }
    return std::unique_ptr<ZapHandler>(
        new ZapHandler(std::move(sock), std::string(reinterpret_cast<char*>(raw), 32)));
  } catch (const zmq::error_t& e) {
    return internal_error(std::string("cannot create ZAP socket: ") + e.what());
  }
}

std::optional<std::string> ZapHandler::handle_one() {
  // Request: version, request id, domain, address, identity, mechanism, credentials...
  std::vector<zmq::message_t> req;
  while (true) {
    zmq::message_t part;
    if (zmq_msg_recv(part.handle(), sock_.handle(), ZMQ_DONTWAIT) < 0) break;
    bool more = part.more();
    req.push_back(std::move(part));
    if (!more) break;
  }
  if (req.empty()) return std::nullopt;  // spurious wake-up: nothing to answer

  auto text = [&](size_t i) { return i < req.size() ? req[i].to_string() : std::string(); };
  const std::string address = text(3);
  const std::string mechanism = text(5);
  bool ok = false;
  std::string reason;
  if (req.size() < 6 || text(0) != "1.0") {
    reason = "malformed ZAP request";
  } else if (mechanism != "CURVE") {
    reason = "connected with mechanism " + mechanism + " but this cluster requires CURVE";
  } else if (req.size() < 7 || req[6].size() != 32) {
    reason = "CURVE request without a client key";
  } else if (req[6].to_string() != cluster_public_raw_) {
    reason = "not authorized for this cluster (wrong cluster key)";
  } else {
    ok = true;
  }

  const std::string status = ok ? "200" : "400";
  const std::string status_text = ok ? "OK" : reason;
  const std::string reply[] = {"1.0", text(1), status, status_text, "", ""};
  for (size_t i = 0; i < 6; ++i) {
    zmq::message_t part(reply[i].data(), reply[i].size());
    zmq_msg_send(part.handle(), sock_.handle(), i + 1 < 6 ? ZMQ_SNDMORE : 0);
  }
  if (ok) return std::nullopt;
  return "rejected peer " + (address.empty() ? std::string("(unknown address)") : address) + ": " +
         reason;
}

}  // namespace ll::net
