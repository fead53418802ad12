// ZAP (ZeroMQ authentication protocol, RFC 27) for our CURVE servers: admits only clients
// whose long-term public key is the cluster public key, i.e. holders of the cluster secret.
// Polled by the endpoint's I/O thread; libzmq waits for the reply asynchronously.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "core/status.h"

namespace ll::net {

inline constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

class ZapHandler {
 public:
  // Binds the context's ZAP endpoint; must happen before any CURVE server socket binds.
  static Result<std::unique_ptr<ZapHandler>> create(zmq::context_t& ctx,
                                                    const std::string& cluster_public_z85);

  void* socket() { return sock_.handle(); }

  // Answers one pending request (call when socket() is readable). Returns the rejection
  // text ("rejected peer 10.0.0.7: ...") if the client was refused.
  std::optional<std::string> handle_one();

 private:
  ZapHandler(zmq::socket_t sock, std::string cluster_public_raw)
      : sock_(std::move(sock)), cluster_public_raw_(std::move(cluster_public_raw)) {}
  zmq::socket_t sock_;
  std::string cluster_public_raw_;  // 32 bytes
};

}  // namespace ll::net
