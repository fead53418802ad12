// IoLoop's link bookkeeping: socket-monitor events on both sides of a handshake, refused
// peers, connect deadlines and closing links.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <iterator>

#include "core/log.h"
#include "net/io_loop.h"

namespace ll::net {

namespace {

std::string peer_ip(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  } else {
    return "local socket";
  }
  return buf;
}

}  // namespace

void IoLoop::on_link_event(Link& link, const MonitorEvent& ev) {
  if (ev.event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
    const bool reconnected = !link.pending && !link.up;
    link.up = true;
    link.progress = "handshake done";
    if (link.pending) {
      link.pending->set_value(Status::ok());
      link.pending.reset();
    }
    if (reconnected) {
      // zmq reconnected a link that was lost (a restarted peer): the runtime may re-admit it.
      LL_LOG_INFO("%s: link to %s (%s) is back", options_.node_name.c_str(), link.name.c_str(),
                  link.address.c_str());
      Message m;
      m.flags = kFlagLocal;
      m.body = Hello{Role::kWorker, link.name};
      shared_.deliver(Received{PeerId::outgoing(link.name), std::move(m)});
    }
    return;
  }
  if (is_handshake_failure(ev.event)) {
    const std::string text = describe_refusal(ev, link.name, link.address);
    if (link.pending) {
      fail_link(link, Status(StatusCode::kPermissionDenied, text));
    } else if (!link.failure_logged) {
      LL_LOG_WARN("%s", text.c_str());
      link.failure_logged = true;
    }
    return;
  }
  if (ev.event == ZMQ_EVENT_DISCONNECTED && link.up) {
    link.up = false;
    LL_LOG_INFO("%s: link to %s (%s) lost; zmq keeps reconnecting", options_.node_name.c_str(),
                link.name.c_str(), link.address.c_str());
    // The runtime's failure detection hears about it without waiting for a timeout.
    unreachable(PeerId::outgoing(link.name),
                "link lost (peer closed the connection or missed heartbeats); reconnecting",
                Frames());
  }
  std::string progress = describe_progress(ev);
  if (!progress.empty()) link.progress = progress;
}

void IoLoop::report_rejection(const std::string& text) {
  LL_LOG_WARN("%s: %s", options_.node_name.c_str(), text.c_str());
  shared_.add_rejection(text);
}

void IoLoop::on_server_event(const MonitorEvent& ev) {
  // libzmq reports a refused handshake with our listening address only; the peer's address
  // comes from the ACCEPTED event (its fd), matched at the DISCONNECTED(fd) that follows.
  switch (ev.event) {
    case ZMQ_EVENT_ACCEPTED: {
      if (!pending_rejection_.empty()) {
        report_rejection("rejected peer (unknown address): " + pending_rejection_);
        pending_rejection_.clear();
      }
      accepted_[static_cast<int>(ev.value)] = peer_ip(static_cast<int>(ev.value));
      break;
    }
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      pending_rejection_ = describe_rejection(ev);
      break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      LL_LOG_DEBUG("%s: a peer hung up during the handshake", options_.node_name.c_str());
      break;
    case ZMQ_EVENT_DISCONNECTED: {
      auto it = accepted_.find(static_cast<int>(ev.value));
      std::string ip;
      if (it != accepted_.end()) {
        ip = it->second;
        accepted_.erase(it);
      }
      if (!pending_rejection_.empty()) {
        report_rejection("rejected peer " + (ip.empty() ? std::string("(unknown address)") : ip) +
                         ": " + pending_rejection_);
        pending_rejection_.clear();
      }
      break;
    }
    default:
      break;
  }
}

void IoLoop::fail_link(Link& link, Status why) {
  if (link.pending) {
    link.pending->set_value(std::move(why));
    link.pending.reset();
  }
  link.dead = true;
}

void IoLoop::check_deadlines() {
  const auto now = Clock::now();
  for (auto& [name, link] : links_) {
    if (!link->pending || now < link->deadline) continue;
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", options_.connect_timeout_s);
    fail_link(*link,
              unavailable("no handshake with peer " + name + " at " + link->address + " within " +
                          secs + " s (" + link->progress + "); is it running and reachable?"));
  }
}

void IoLoop::retire(std::map<std::string, std::unique_ptr<Link>>::iterator it) {
  Link& link = *it->second;
  shared_.remove_link_name(link.name);
  for (const Frames& frames : link.backlog) {
    unreachable(PeerId::outgoing(link.name), "link closed before the message was sent", frames);
  }
  link.backlog.clear();
  link.dead = true;
  zmq_socket_monitor(link.sock.handle(), nullptr, 0);
  // Poll entries of the current iteration may still point at it: destroyed after the loop.
  graveyard_.push_back(std::move(it->second));
  links_.erase(it);
}

void IoLoop::reap_dead_links() {
  for (auto it = links_.begin(); it != links_.end();) {
    auto next = std::next(it);
    if (it->second->dead) retire(it);
    it = next;
  }
}

}  // namespace ll::net
