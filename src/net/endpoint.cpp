#include "net/endpoint.h"

#include <zmq.h>
#include <cmath>
#include <future>
#include <thread>

#include "core/log.h"
#include "net/endpoint_shared.h"
#include "net/io_loop.h"

namespace ll::net {

namespace {

using Clock = std::chrono::steady_clock;

// How long an application thread waits for the I/O thread to run a task; only reached if
// the I/O thread is wedged, which is a bug rather than a network condition.
constexpr double kTaskTimeoutS = 10.0;

Status check_name(const std::string& name, const char* what) {
  if (name.empty() || name.size() > 255) {
    return invalid_argument(std::string(what) + " must be 1..255 bytes");
  }
  // zmq reserves routing ids that start with a zero byte.
  if (name[0] == '\0') return invalid_argument(std::string(what) + " must not start with NUL");
  return Status::ok();
}

Status check_options(const EndpointOptions& o) {
  LL_RETURN_IF_ERROR(check_name(o.node_name, "node_name"));
  if (!std::isfinite(o.added_latency_s) || o.added_latency_s < 0 ||
      !std::isfinite(o.bandwidth_bytes_per_s) || o.bandwidth_bytes_per_s < 0) {
    return invalid_argument("added_latency_s and bandwidth_bytes_per_s must be >= 0");
  }
  if (!std::isfinite(o.connect_timeout_s) || o.connect_timeout_s <= 0) {
    return invalid_argument("connect_timeout_s must be > 0");
  }
  if (o.max_frame_bytes <= 0) return invalid_argument("max_frame_bytes must be > 0");
  if (o.insecure) return Status::ok();
  if (!zmq_has("curve")) {
    return unsupported(
        "this libzmq has no CURVE support; rebuild it with libsodium or run "
        "--insecure on a trusted network");
  }
  if (o.cluster_key.public_z85.empty() && o.cluster_key.secret_z85.empty()) {
    return invalid_argument(
        "no cluster key: load one (lingualinked keygen makes one) or run "
        "--insecure explicitly");
  }
  Status st = validate_cluster_key(o.cluster_key);
  if (!st.is_ok()) return invalid_argument("cluster key: " + st.message());
  if (o.client_key) {
    st = validate_cluster_key(*o.client_key);
    if (!st.is_ok()) return invalid_argument("client key: " + st.message());
  }
  return Status::ok();
}

}  // namespace

std::string PeerId::to_string() const {
  return via == Via::kOutgoing ? name : name + " (incoming)";
}

struct Endpoint::Impl {
  explicit Impl(EndpointOptions o) : options(std::move(o)), shared(options.max_inbox) {}

  EndpointOptions options;
  zmq::context_t ctx{1};  // one zmq I/O thread: the devices we target have few cores
  EndpointShared shared;
  std::thread io;
  std::atomic<bool> closed{false};
};

Endpoint::Endpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Endpoint::~Endpoint() {
  close();
}

Result<std::unique_ptr<Endpoint>> Endpoint::create(EndpointOptions options) {
  LL_RETURN_IF_ERROR(check_options(options));
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(std::move(options));
  } catch (const std::exception& e) {
    return internal_error(std::string("cannot create zmq context: ") + e.what());
  }
  if (!impl->shared.valid()) return internal_error("cannot create eventfd");
  auto ready = std::make_shared<std::promise<Status>>();
  auto ready_fut = ready->get_future();
  Impl* p = impl.get();
  impl->io = std::thread([p, ready] {
    IoLoop loop(p->shared, p->options, p->ctx);
    Status st = loop.init();
    const bool ok = st.is_ok();
    ready->set_value(std::move(st));
    if (ok) loop.run();
  });
  Status st = ready_fut.get();
  if (!st.is_ok()) {
    impl->io.join();
    return st;
  }
  return std::unique_ptr<Endpoint>(new Endpoint(std::move(impl)));
}

void Endpoint::close() {
  if (!impl_ || impl_->closed.exchange(true)) return;
  impl_->shared.request_stop();
  if (impl_->io.joinable()) impl_->io.join();
  impl_->shared.mark_closed();
}

const EndpointOptions& Endpoint::options() const {
  return impl_->options;
}

EndpointShared& Endpoint::shared() {
  return impl_->shared;
}

Result<std::string> Endpoint::bind(const std::string& address) {
  if (impl_->closed) return Status(StatusCode::kCancelled, "endpoint closed");
  auto done = std::make_shared<std::promise<Result<std::string>>>();
  auto fut = done->get_future();
  impl_->shared.post_task([done, address](IoLoop& io) {
    try {
      done->set_value(io.bind(address));
    } catch (const std::exception& e) {
      done->set_value(Result<std::string>(internal_error(std::string("bind: ") + e.what())));
    }
  });
  if (fut.wait_for(std::chrono::duration<double>(kTaskTimeoutS)) != std::future_status::ready) {
    return internal_error("network I/O thread did not respond");
  }
  return fut.get();
}

Result<PeerInfo> Endpoint::connect(const std::string& peer_name, const std::string& address) {
  LL_RETURN_IF_ERROR(check_name(peer_name, "peer name"));
  if (impl_->closed) return Status(StatusCode::kCancelled, "endpoint closed");
  auto done = std::make_shared<std::promise<Status>>();
  auto fut = done->get_future();
  impl_->shared.post_task(
      [done, peer_name, address](IoLoop& io) { io.start_connect(peer_name, address, done); });
  if (fut.wait_for(std::chrono::duration<double>(impl_->options.connect_timeout_s +
                                                 kTaskTimeoutS)) != std::future_status::ready) {
    disconnect(peer_name);
    return internal_error("network I/O thread did not respond");
  }
  LL_RETURN_IF_ERROR(fut.get());

  // Encrypted link is up; now check that a LinguaLinked node of our version is behind it.
  const PeerId peer = PeerId::outgoing(peer_name);
  EndpointShared& sh = impl_->shared;
  const uint32_t seq = sh.next_seq();
  sh.expect_reply(seq);
  Message hello;
  hello.seq_id = seq;
  hello.body = Hello{impl_->options.role, impl_->options.node_name};
  Status st = send(peer, std::move(hello));
  if (!st.is_ok()) {
    sh.cancel_reply(seq);
    disconnect(peer_name);
    return st;
  }
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(impl_->options.connect_timeout_s));
  std::optional<Received> reply = sh.wait_reply(seq, deadline);
  const std::string who = "peer " + peer_name + " at " + address;
  if (!reply) {
    disconnect(peer_name);
    return unavailable(who + " completed the encrypted handshake but did not answer HELLO " +
                       "(not a LinguaLinked node?)");
  }
  if (const Error* err = reply->msg.as<Error>()) {
    disconnect(peer_name);
    StatusCode code = err->code == ErrorCode::kVersionMismatch ? StatusCode::kUnsupported
                                                               : StatusCode::kUnavailable;
    return Status(code, who + " refused HELLO: " + err->text);
  }
  const HelloAck* ack = reply->msg.as<HelloAck>();
  if (!ack) {
    disconnect(peer_name);
    return unavailable(who + " answered HELLO with " + msg_type_name(reply->msg.type()));
  }
  if (reply->msg.version != kProtocolVersion) {
    disconnect(peer_name);
    return unsupported(who + " speaks protocol v" + std::to_string(reply->msg.version) +
                       ", this node speaks v" + std::to_string(kProtocolVersion));
  }
  return PeerInfo{peer, ack->node_name, ack->role, address};
}

void Endpoint::disconnect(const std::string& peer_name) {
  if (impl_->closed) return;
  impl_->shared.post_task([peer_name](IoLoop& io) { io.disconnect(peer_name); });
}

Status Endpoint::send_raw(const PeerId& to, Frames frames) {
  if (impl_->closed) return Status(StatusCode::kCancelled, "endpoint closed");
  if (frames.empty()) return invalid_argument("cannot send a message with no frames");
  if (to.via == PeerId::Via::kOutgoing && !impl_->shared.has_link_name(to.name)) {
    return not_found("no link named " + to.name + " (connect to it first)");
  }
  impl_->shared.post(OutMsg{to, std::move(frames)});
  return Status::ok();
}

Status Endpoint::send(const PeerId& to, Message msg) {
  LL_ASSIGN_OR_RETURN(Frames frames, encode(std::move(msg)));
  return send_raw(to, std::move(frames));
}

Result<Received> Endpoint::recv(double timeout_s) {
  return impl_->shared.recv(timeout_s);
}

EndpointStats Endpoint::stats() const {
  const auto& c = impl_->shared.counters;
  EndpointStats s;
  s.sent = c.sent.load();
  s.received = c.received.load();
  s.bytes_sent = c.bytes_sent.load();
  s.bytes_received = c.bytes_received.load();
  s.dropped_malformed = c.dropped_malformed.load();
  s.rejected_peers = c.rejected_peers.load();
  return s;
}

std::vector<std::string> Endpoint::rejections() const {
  return impl_->shared.rejections();
}

std::optional<std::string> Endpoint::wait_rejection(const std::string& needle,
                                                    double timeout_s) const {
  return impl_->shared.wait_rejection(needle, timeout_s);
}

}  // namespace ll::net
