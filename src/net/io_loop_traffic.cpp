// IoLoop's data path: shaping and sending outgoing messages, reading, validating and
// dispatching incoming ones (PING, BLAST and HELLO are answered right here).
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"
#include "net/io_loop.h"

namespace ll::net {

namespace {

constexpr int kMaxDrainPerWake = 256;  // messages read from one socket before polling again
constexpr size_t kMaxBacklog = 4096;   // messages held per destination beyond zmq's HWM
constexpr size_t kMaxBlastTrackers = 64;

uint64_t frames_bytes(const Frames& frames) {
  uint64_t n = 0;
  for (const auto& f : frames) n += f.size();
  return n;
}

}  // namespace

void IoLoop::submit(OutMsg&& msg) {
  if (!shaper_.enabled()) {
    transmit(msg);
    return;
  }
  const auto at = shaper_.release_time(frames_bytes(msg.frames), Clock::now());
  scheduled_.push_back(Scheduled{at, std::move(msg)});
  if (scheduled_.size() == 1) arm_timer(at);
}

void IoLoop::release_due() {
  const auto now = Clock::now();
  while (!scheduled_.empty() && scheduled_.front().at <= now) {
    transmit(scheduled_.front().msg);
    scheduled_.pop_front();
  }
  if (!scheduled_.empty()) arm_timer(scheduled_.front().at);
}

void IoLoop::arm_timer(Clock::time_point at) {
  // steady_clock is CLOCK_MONOTONIC on Linux, so its epoch is the timerfd's.
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  if (ns <= 0) ns = 1;  // all-zero would disarm
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
  spec.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
  ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

IoLoop::SendResult IoLoop::try_send(void* sock, const std::string* routing_id, Frames& frames,
                                    int* err) {
  const uint64_t bytes = frames_bytes(frames);
  if (routing_id) {
    if (zmq_send(sock, routing_id->data(), routing_id->size(), ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0) {
      *err = errno;
      return errno == EAGAIN ? SendResult::kWouldBlock : SendResult::kFailed;
    }
  }
  for (size_t i = 0; i < frames.size(); ++i) {
    int flags = ZMQ_DONTWAIT | (i + 1 < frames.size() ? ZMQ_SNDMORE : 0);
    if (zmq_msg_send(frames[i].handle(), sock, flags) < 0) {
      *err = errno;
      // Only the first part can block; later parts of a started message always queue.
      return (i == 0 && !routing_id && errno == EAGAIN) ? SendResult::kWouldBlock
                                                        : SendResult::kFailed;
    }
  }
  shared_.counters.sent.fetch_add(1, std::memory_order_relaxed);
  shared_.counters.bytes_sent.fetch_add(bytes, std::memory_order_relaxed);
  return SendResult::kSent;
}

void IoLoop::transmit(OutMsg& msg) {
  int err = 0;
  if (msg.to.via == PeerId::Via::kOutgoing) {
    auto it = links_.find(msg.to.name);
    if (it == links_.end() || it->second->dead) {
      unreachable(msg.to, "no open link named " + msg.to.name, msg.frames);
      return;
    }
    Link& link = *it->second;
    if (link.backlog.empty()) {
      SendResult r = try_send(link.sock.handle(), nullptr, msg.frames, &err);
      if (r == SendResult::kSent) return;
      if (r == SendResult::kFailed) {
        unreachable(msg.to, std::string("send failed: ") + zmq_strerror(err), msg.frames);
        return;
      }
    }
    if (link.backlog.size() >= kMaxBacklog) {
      unreachable(msg.to, "send queue full (peer not reading)", msg.frames);
      return;
    }
    link.backlog.push_back(std::move(msg.frames));
    return;
  }
  if (!router_) {
    unreachable(msg.to, "this node is not listening, so it has no incoming links", msg.frames);
    return;
  }
  if (router_backlog_.empty()) {
    SendResult r = try_send(router_->handle(), &msg.to.name, msg.frames, &err);
    if (r == SendResult::kSent) return;
    if (r == SendResult::kFailed) {
      unreachable(msg.to,
                  err == EHOSTUNREACH ? "no connected peer named " + msg.to.name
                                      : std::string("send failed: ") + zmq_strerror(err),
                  msg.frames);
      return;
    }
  }
  if (router_backlog_.size() >= kMaxBacklog) {
    unreachable(msg.to, "send queue full (peer not reading)", msg.frames);
    return;
  }
  router_backlog_.push_back(std::move(msg));
}

void IoLoop::flush_link(Link& link) {
  int err = 0;
  while (!link.backlog.empty()) {
    SendResult r = try_send(link.sock.handle(), nullptr, link.backlog.front(), &err);
    if (r == SendResult::kWouldBlock) return;
    if (r == SendResult::kFailed) {
      unreachable(PeerId::outgoing(link.name), std::string("send failed: ") + zmq_strerror(err),
                  link.backlog.front());
    }
    link.backlog.pop_front();
  }
}

void IoLoop::flush_router() {
  int err = 0;
  while (!router_backlog_.empty()) {
    OutMsg& m = router_backlog_.front();
    SendResult r = try_send(router_->handle(), &m.to.name, m.frames, &err);
    if (r == SendResult::kWouldBlock) return;
    if (r == SendResult::kFailed) {
      unreachable(m.to,
                  err == EHOSTUNREACH ? "no connected peer named " + m.to.name
                                      : std::string("send failed: ") + zmq_strerror(err),
                  m.frames);
    }
    router_backlog_.pop_front();
  }
}

void IoLoop::unreachable(const PeerId& to, const std::string& why, const Frames& frames) {
  LL_LOG_DEBUG("%s: cannot deliver to %s: %s", options_.node_name.c_str(), to.to_string().c_str(),
               why.c_str());
  Message m;
  m.flags = kFlagLocal;
  m.body = Error{ErrorCode::kUnreachable, why};
  Received r{to, std::move(m)};
  // A probe or connect() waiting on this message's seq_id hears about it at once instead of
  // timing out; everyone else gets the ERROR through recv().
  if (!frames.empty() && frames[0].size() >= kHeaderBytes) {
    auto h = parse_header(static_cast<const uint8_t*>(frames[0].data()), frames[0].size());
    if (h.is_ok()) {
      r.msg.seq_id = h->seq_id;
      r.msg.session_id = h->session_id;
      r.msg.epoch = h->epoch;
      r.msg.step = h->step;
      if (shared_.offer_reply(h->seq_id, r)) return;
    }
  }
  shared_.deliver(std::move(r));
}

// ------------------------------------------------------------------ receiving

bool IoLoop::read_multipart(void* sock, Frames* frames, bool* oversized) {
  *oversized = false;
  frames->clear();
  int flags = ZMQ_DONTWAIT;
  while (true) {
    zmq::message_t part;
    if (zmq_msg_recv(part.handle(), sock, flags) < 0) {
      // Later parts of a message are always there once the first one is.
      return !frames->empty();
    }
    const bool more = part.more();
    // Parts beyond any valid message are read (zmq delivers whole messages) and dropped.
    if (frames->size() < kMaxParts + 2) {
      frames->push_back(std::move(part));
    } else {
      *oversized = true;
    }
    if (!more) return true;
    flags = 0;
  }
}

void IoLoop::drain(void* sock, Link* link) {
  for (int n = 0; n < kMaxDrainPerWake && !shared_.inbox_full(); ++n) {
    bool oversized = false;
    if (!read_multipart(sock, &frames_, &oversized)) return;
    PeerId from;
    if (link) {
      from = PeerId::outgoing(link->name);
    } else {
      from = PeerId::incoming(frames_.front().to_string());
      frames_.erase(frames_.begin());
    }
    if (oversized) {
      on_malformed(from, corrupt("more than " + std::to_string(kMaxParts) + " payload parts"));
      continue;
    }
    on_message(from, frames_);
  }
}

void IoLoop::on_malformed(const PeerId& from, const Status& why) {
  uint64_t n = shared_.counters.dropped_malformed.fetch_add(1, std::memory_order_relaxed) + 1;
  // A flood of garbage must not become a flood of log lines.
  if (n <= 5 || n % 1000 == 0) {
    LL_LOG_WARN("%s: dropped malformed message from %s: %s (%llu dropped so far)",
                options_.node_name.c_str(), from.to_string().c_str(), why.to_string().c_str(),
                static_cast<unsigned long long>(n));
  }
}

void IoLoop::reply(const PeerId& to, const Message& request, Body body) {
  Message m;
  m.session_id = request.session_id;
  m.epoch = request.epoch;
  m.seq_id = request.seq_id;
  m.step = request.step;
  m.body = std::move(body);
  auto frames = encode(std::move(m));
  if (!frames.is_ok()) {
    LL_LOG_ERROR("cannot encode reply: %s", frames.status().to_string().c_str());
    return;
  }
  submit(OutMsg{to, std::move(frames).value()});
}

void IoLoop::on_message(const PeerId& from, Frames& frames) {
  shared_.counters.received.fetch_add(1, std::memory_order_relaxed);
  shared_.counters.bytes_received.fetch_add(frames_bytes(frames), std::memory_order_relaxed);
  auto decoded = decode(frames);
  if (!decoded.is_ok()) {
    on_malformed(from, decoded.status());
    return;
  }
  Message& msg = decoded.value();
  switch (msg.type()) {
    case MsgType::kPing: {
      Ping& ping = *msg.as<Ping>();
      reply(from, msg, Pong{ping.t_ns, std::move(ping.pad)});
      return;
    }
    case MsgType::kBlast: {
      if (blast_bytes_.size() >= kMaxBlastTrackers) blast_bytes_.clear();
      const std::string key = from.to_string() + "#" + std::to_string(msg.seq_id);
      uint64_t& total = blast_bytes_[key];
      total += msg.as<Blast>()->data.size();
      if (msg.flags & kFlagFinal) {
        const uint64_t got = total;
        blast_bytes_.erase(key);
        reply(from, msg, BlastAck{got});
      }
      return;
    }
    case MsgType::kHello: {
      if (msg.version != kProtocolVersion) {
        const std::string text = "protocol version mismatch: " + from.name + " speaks v" +
                                 std::to_string(msg.version) + ", node " + options_.node_name +
                                 " speaks v" + std::to_string(kProtocolVersion);
        LL_LOG_WARN("%s", text.c_str());
        reply(from, msg, Error{ErrorCode::kVersionMismatch, text});
        return;
      }
      reply(from, msg, HelloAck{options_.role, options_.node_name});
      break;
    }
    case MsgType::kPong:
    case MsgType::kBlastAck:
    case MsgType::kHelloAck:
    case MsgType::kError: {
      Received r{from, std::move(msg)};
      if (shared_.offer_reply(r.msg.seq_id, r)) return;
      shared_.deliver(std::move(r));
      return;
    }
    default:
      break;
  }
  shared_.deliver(Received{from, std::move(msg)});
}

}  // namespace ll::net
