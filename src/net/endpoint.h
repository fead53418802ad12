// A node's network presence: one listening ROUTER socket (peers that connect to us) plus one
// DEALER per outgoing link (peers we connect to), all owned by a single I/O thread. Every
// link is CurveZMQ-encrypted with the cluster key unless options.insecure is set.
//
// Thread model: send/recv/connect/probe_link may be called from any thread. The I/O thread
// answers PING and BLAST itself (so probes measure the link, not the application), answers
// HELLO with HELLO_ACK and then also delivers the HELLO, and drops malformed messages.
// Link changes reach recv() as local messages (flag kFlagLocal): a lost outgoing link as an
// ERROR kUnreachable from that peer, a lost link that zmq reconnected as a HELLO from it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "net/cluster_key.h"
#include "net/codec.h"
#include "net/message.h"

namespace ll::net {

class EndpointShared;

// Outgoing links are named by the caller of connect(); incoming ones by the remote node's
// node_name (its routing id). The same remote node can be both.
struct PeerId {
  enum class Via : uint8_t { kOutgoing = 0, kIncoming = 1 };
  Via via = Via::kOutgoing;
  std::string name;

  static PeerId outgoing(std::string n) { return {Via::kOutgoing, std::move(n)}; }
  static PeerId incoming(std::string n) { return {Via::kIncoming, std::move(n)}; }
  std::string to_string() const;  // "w1" or "w1 (incoming)"
  friend bool operator==(const PeerId&, const PeerId&) = default;
};

struct Received {
  PeerId from;  // reply with send(from, ...)
  Message msg;  // msg.flags & kFlagLocal: made by this node (e.g. ERROR kUnreachable)
};

struct PeerInfo {
  PeerId id;
  std::string node_name;  // as the peer announced it in HELLO_ACK
  Role role = Role::kWorker;
  std::string address;
};

struct EndpointOptions {
  std::string node_name;  // required: unique in the cluster, <= 255 bytes
  Role role = Role::kWorker;
  bool insecure = false;   // explicit opt-out of CURVE on every link
  ClusterKey cluster_key;  // required unless insecure
  // CURVE client identity; defaults to cluster_key. Only tests set it (a node that knows
  // the cluster public key but not its secret).
  std::optional<ClusterKey> client_key;
  double added_latency_s = 0;        // one-way delay added to every outgoing message
  double bandwidth_bytes_per_s = 0;  // outgoing serialization rate; 0 = unlimited
  double latency_p95_s = 0;          // > added_latency_s: jittered latency (net/traffic_shaper.h)
  double loss_rate = 0;              // share of messages stalled by loss_stall_s (a TCP retransmit)
  double loss_stall_s = 0.2;
  double connect_timeout_s = 3.0;  // encrypted handshake + HELLO exchange
  // A link that carries no traffic, not even zmq's heartbeat answers, for this long is lost.
  // Heartbeats are answered by zmq's I/O thread, so a device busy computing stays up.
  double heartbeat_timeout_s = 1.0;
  int64_t max_frame_bytes = int64_t{1} << 30;  // larger frames are refused by zmq
  size_t max_inbox = 65536;                    // stop reading sockets while this many messages wait
};

struct EndpointStats {
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t dropped_malformed = 0;
  uint64_t rejected_peers = 0;
};

struct LinkProbe {
  double rtt_median_s = 0;
  double rtt_p95_s = 0;
  double bandwidth_bytes_per_s = 0;
  int pings = 0;
  uint64_t blast_bytes = 0;
  double elapsed_s = 0;  // whole probe
};

struct ProbeOptions {
  int pings = 16;
  size_t ping_pad_bytes = 0;
  size_t blast_bytes = 2u << 20;
  size_t chunk_bytes = 256u << 10;
  double timeout_s = 5.0;
};

class Endpoint {
 public:
  static Result<std::unique_ptr<Endpoint>> create(EndpointOptions options);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // "tcp://127.0.0.1:*" picks a free port; returns the resolved address to give to peers.
  Result<std::string> bind(const std::string& address);

  // Opens a link named `peer_name`, waits for the encrypted handshake and exchanges
  // HELLO/HELLO_ACK. Refusals come back as kPermissionDenied ("peer w1 at tcp://...
  // refused the handshake: cluster key mismatch ..."), protocol version mismatch as
  // kUnsupported, no answer as kUnavailable.
  Result<PeerInfo> connect(const std::string& peer_name, const std::string& address);
  void disconnect(const std::string& peer_name);

  // Queues msg (encoded in the caller's thread, payloads not copied). Fails at once on
  // encode errors or an unknown outgoing peer; a delivery failure found later arrives via
  // recv() as a local ERROR (kUnreachable) from that peer.
  Status send(const PeerId& to, Message msg);
  // Sends frames exactly as given (tests and diagnostics: lets us send malformed input).
  Status send_raw(const PeerId& to, Frames frames);

  // Next message for the application: kUnavailable after timeout_s with nothing, kCancelled
  // once the endpoint is closed.
  Result<Received> recv(double timeout_s);

  // RTT by PING/PONG round trips, then bandwidth by a BLAST until its ack.
  Result<LinkProbe> probe_link(const PeerId& peer, const ProbeOptions& options = {});

  EndpointStats stats() const;
  // Texts of the peers this node refused ("rejected peer 127.0.0.1: ..."), oldest first.
  std::vector<std::string> rejections() const;
  // The first of them that contains `needle`, once there is one (the I/O thread logs them
  // after the handshake fails), or nullopt after timeout_s.
  std::optional<std::string> wait_rejection(const std::string& needle, double timeout_s) const;
  const EndpointOptions& options() const;

  // Stops the I/O thread and closes every socket (linger 0). Idempotent.
  void close();

 private:
  struct Impl;
  explicit Endpoint(std::unique_ptr<Impl> impl);
  EndpointShared& shared();
  std::unique_ptr<Impl> impl_;
};

}  // namespace ll::net
