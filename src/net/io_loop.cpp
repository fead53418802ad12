#include "net/io_loop.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "core/log.h"
#include "net/socket_security.h"

namespace ll::net {

namespace {}  // namespace

IoLoop::IoLoop(EndpointShared& shared, const EndpointOptions& options, zmq::context_t& ctx)
    : shared_(shared),
      options_(options),
      ctx_(ctx),
      client_key_(options.client_key.value_or(options.cluster_key)),
      shaper_(options.added_latency_s, options.bandwidth_bytes_per_s) {
  // Seeded by the node name: each device draws its own jitter, the same in every run.
  const uint64_t seed = std::hash<std::string>{}(options.node_name);
  shaper_.set_jitter(options.latency_p95_s, seed);
  shaper_.set_loss(options.loss_rate, options.loss_stall_s, seed);
}

IoLoop::~IoLoop() {
  close_all();
  if (timer_fd_ >= 0) ::close(timer_fd_);
}

Status IoLoop::init() {
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) return internal_error(std::string("timerfd_create: ") + std::strerror(errno));
  if (secure()) {
    LL_ASSIGN_OR_RETURN(zap_, ZapHandler::create(ctx_, options_.cluster_key.public_z85));
  }
  return Status::ok();
}

Status IoLoop::common_options(void* sock) {
  LL_RETURN_IF_ERROR(set_socket_int(sock, ZMQ_LINGER, 0, "LINGER"));
  // ZMTP heartbeats, answered by zmq's own I/O threads: a peer that is busy computing still
  // answers, a dead or frozen one misses them and its link is reported lost.
  const int timeout_ms = std::max(100, static_cast<int>(options_.heartbeat_timeout_s * 1000));
  LL_RETURN_IF_ERROR(set_socket_int(sock, ZMQ_HEARTBEAT_IVL, timeout_ms / 4, "HEARTBEAT_IVL"));
  LL_RETURN_IF_ERROR(set_socket_int(sock, ZMQ_HEARTBEAT_TIMEOUT, timeout_ms, "HEARTBEAT_TIMEOUT"));
  int64_t max = options_.max_frame_bytes;
  return set_socket_option(sock, ZMQ_MAXMSGSIZE, &max, sizeof max, "MAXMSGSIZE");
}

Result<zmq::socket_t> IoLoop::attach_monitor(void* sock) {
  const std::string addr = "inproc://ll-monitor-" + std::to_string(++monitor_seq_);
  if (zmq_socket_monitor(sock, addr.c_str(), ZMQ_EVENT_ALL) != 0) {
    return internal_error(std::string("zmq_socket_monitor: ") + zmq_strerror(errno));
  }
  zmq::socket_t pair(ctx_, zmq::socket_type::pair);
  LL_RETURN_IF_ERROR(set_socket_int(pair.handle(), ZMQ_LINGER, 0, "LINGER"));
  // Connected before the watched socket binds/connects, or the first events are lost.
  if (zmq_connect(pair.handle(), addr.c_str()) != 0) {
    return internal_error(std::string("cannot attach monitor: ") + zmq_strerror(errno));
  }
  return pair;
}

// ------------------------------------------------------------------ tasks

Result<std::string> IoLoop::bind(const std::string& address) {
  if (!router_) {
    zmq::socket_t router(ctx_, zmq::socket_type::router);
    void* s = router.handle();
    LL_RETURN_IF_ERROR(common_options(s));
    // Unknown routing ids must fail loudly, and a restarted peer replaces its old link.
    LL_RETURN_IF_ERROR(set_socket_int(s, ZMQ_ROUTER_MANDATORY, 1, "ROUTER_MANDATORY"));
    LL_RETURN_IF_ERROR(set_socket_int(s, ZMQ_ROUTER_HANDOVER, 1, "ROUTER_HANDOVER"));
    if (secure()) LL_RETURN_IF_ERROR(make_curve_server(s, options_.cluster_key));
    LL_ASSIGN_OR_RETURN(zmq::socket_t mon, attach_monitor(s));
    router_.emplace(std::move(router));
    router_mon_.emplace(std::move(mon));
  }
  if (zmq_bind(router_->handle(), address.c_str()) != 0) {
    return unavailable("cannot listen on " + address + ": " + zmq_strerror(errno));
  }
  char buf[512] = {0};
  size_t len = sizeof buf - 1;
  if (zmq_getsockopt(router_->handle(), ZMQ_LAST_ENDPOINT, buf, &len) != 0) {
    return internal_error(std::string("ZMQ_LAST_ENDPOINT: ") + zmq_strerror(errno));
  }
  LL_LOG_INFO("%s listening on %s (%s)", options_.node_name.c_str(), buf,
              secure() ? "CURVE" : "INSECURE");
  return std::string(buf);
}

void IoLoop::start_connect(const std::string& name, const std::string& address,
                           std::shared_ptr<std::promise<Status>> done) {
  try {
    open_link(name, address, done);
  } catch (const std::exception& e) {
    // Still unanswered if the failure came before the link took over the promise.
    if (done) done->set_value(internal_error(std::string("cannot open link: ") + e.what()));
  }
}

void IoLoop::open_link(const std::string& name, const std::string& address,
                       std::shared_ptr<std::promise<Status>>& done) {
  auto existing = links_.find(name);
  if (existing != links_.end()) {
    if (!existing->second->dead) {
      done->set_value(invalid_argument("already have a link named " + name));
      return;
    }
    retire(existing);  // disconnect() posted just before this connect
  }
  auto link = std::make_unique<Link>();
  link->name = name;
  link->address = address;
  link->sock = zmq::socket_t(ctx_, zmq::socket_type::dealer);
  void* s = link->sock.handle();
  Status st = common_options(s);
  // The routing id is how the peer's ROUTER names us: PeerId::incoming(node_name).
  if (st.is_ok()) {
    st = set_socket_option(s, ZMQ_ROUTING_ID, options_.node_name.data(), options_.node_name.size(),
                           "ROUTING_ID");
  }
  if (st.is_ok() && secure()) st = make_curve_client(s, options_.cluster_key, client_key_);
  if (!st.is_ok()) {
    done->set_value(st);
    return;
  }
  auto mon = attach_monitor(s);
  if (!mon.is_ok()) {
    done->set_value(mon.status());
    return;
  }
  link->mon = std::move(mon).value();
  if (zmq_connect(s, address.c_str()) != 0) {
    done->set_value(invalid_argument("cannot connect to " + address + ": " + zmq_strerror(errno)));
    return;
  }
  link->deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(options_.connect_timeout_s));
  shared_.add_link_name(name);
  Link* raw = link.get();
  links_[name] = std::move(link);
  raw->pending = std::move(done);
}

void IoLoop::disconnect(const std::string& name) {
  auto it = links_.find(name);
  if (it == links_.end()) return;
  fail_link(*it->second, Status(StatusCode::kCancelled, "disconnected"));
}

// ------------------------------------------------------------------ main loop

int IoLoop::poll_timeout_ms() const {
  if (!router_backlog_.empty()) return 1;  // ROUTER has no per-peer POLLOUT; retry soon
  int timeout = -1;
  const auto now = Clock::now();
  for (const auto& [name, link] : links_) {
    if (!link->pending) continue;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(link->deadline - now).count();
    int t = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(ms, 60000)));
    timeout = timeout < 0 ? t : std::min(timeout, t);
  }
  return timeout;
}

void IoLoop::run() {
  while (!shared_.stopping()) {
    items_.clear();
    refs_.clear();
    auto add = [&](void* sock, int fd, short events, Kind kind, Link* link) {
      items_.push_back(zmq_pollitem_t{sock, fd, events, 0});
      refs_.push_back(PollRef{kind, link});
    };
    // A full inbox stops reading (zmq's HWM then pushes back on senders), but control
    // sockets are always served.
    const short in = shared_.inbox_full() ? 0 : ZMQ_POLLIN;
    add(nullptr, shared_.wake_fd(), ZMQ_POLLIN, Kind::kWake, nullptr);
    add(nullptr, timer_fd_, ZMQ_POLLIN, Kind::kTimer, nullptr);
    if (zap_) add(zap_->socket(), 0, ZMQ_POLLIN, Kind::kZap, nullptr);
    if (router_) {
      add(router_->handle(), 0, in, Kind::kRouter, nullptr);
      add(router_mon_->handle(), 0, ZMQ_POLLIN, Kind::kRouterMon, nullptr);
    }
    for (auto& [name, link] : links_) {
      short ev = static_cast<short>(in | (link->backlog.empty() ? 0 : ZMQ_POLLOUT));
      add(link->sock.handle(), 0, ev, Kind::kLink, link.get());
      add(link->mon.handle(), 0, ZMQ_POLLIN, Kind::kLinkMon, link.get());
    }
    int rc = zmq_poll(items_.data(), static_cast<int>(items_.size()), poll_timeout_ms());
    if (rc < 0) {
      if (errno == ETERM) break;
      if (errno != EINTR) LL_LOG_ERROR("zmq_poll: %s", zmq_strerror(errno));
      continue;
    }
    try {
      for (size_t i = 0; i < items_.size(); ++i) {
        if (items_[i].revents != 0) dispatch(refs_[i], items_[i].revents);
      }
      if (!router_backlog_.empty()) flush_router();
      check_deadlines();
      reap_dead_links();
      graveyard_.clear();
    } catch (const std::exception& e) {
      // zmq allocation failures and the like: keep serving rather than take the node down.
      LL_LOG_ERROR("%s: I/O loop error: %s", options_.node_name.c_str(), e.what());
    }
  }
  close_all();
}

void IoLoop::dispatch(const PollRef& ref, short revents) {
  switch (ref.kind) {
    case Kind::kWake:
      handle_posted();
      break;
    case Kind::kTimer: {
      uint64_t expirations;
      ssize_t n = ::read(timer_fd_, &expirations, sizeof expirations);
      (void)n;
      release_due();
      break;
    }
    case Kind::kZap:
      if (auto rejected = zap_->handle_one()) report_rejection(*rejected);
      break;
    case Kind::kRouter:
      if (revents & ZMQ_POLLIN) drain(router_->handle(), nullptr);
      break;
    case Kind::kRouterMon:
      while (auto ev = read_monitor_event(router_mon_->handle())) on_server_event(*ev);
      break;
    case Kind::kLink:
      if (ref.link->dead) break;
      if (revents & ZMQ_POLLIN) drain(ref.link->sock.handle(), ref.link);
      if (revents & ZMQ_POLLOUT) flush_link(*ref.link);
      break;
    case Kind::kLinkMon:
      while (auto ev = read_monitor_event(ref.link->mon.handle())) {
        if (!ref.link->dead) on_link_event(*ref.link, *ev);
      }
      break;
  }
}

void IoLoop::handle_posted() {
  posted_.clear();
  tasks_.clear();
  shared_.take_posted(&posted_, &tasks_);
  for (auto& task : tasks_) {
    try {
      task(*this);
    } catch (const std::exception& e) {
      LL_LOG_ERROR("%s: task failed: %s", options_.node_name.c_str(), e.what());
    }
  }
  for (OutMsg& m : posted_) submit(std::move(m));
  posted_.clear();
  tasks_.clear();
}

void IoLoop::close_all() {
  for (auto& [name, link] : links_) {
    if (link->pending) {
      link->pending->set_value(Status(StatusCode::kCancelled, "endpoint closed"));
      link->pending.reset();
    }
    zmq_socket_monitor(link->sock.handle(), nullptr, 0);
  }
  links_.clear();
  graveyard_.clear();
  if (router_) zmq_socket_monitor(router_->handle(), nullptr, 0);
  router_mon_.reset();
  router_.reset();
  zap_.reset();
  scheduled_.clear();
  router_backlog_.clear();
}

}  // namespace ll::net
