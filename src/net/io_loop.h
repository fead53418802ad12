// Internal: the endpoint's I/O thread. Owns every zmq socket of the endpoint (zmq sockets
// are single-threaded), waits in zmq_poll on them plus an eventfd (work from application
// threads) and a timerfd (release of emulated-latency messages), and never sleeps otherwise.
#pragma once

#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "net/endpoint_shared.h"
#include "net/monitor_events.h"
#include "net/traffic_shaper.h"
#include "net/zap_handler.h"

namespace ll::net {

class IoLoop {
 public:
  using Clock = std::chrono::steady_clock;

  IoLoop(EndpointShared& shared, const EndpointOptions& options, zmq::context_t& ctx);
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  Status init();  // timer + ZAP handler (secure mode)
  void run();     // until shared.stopping(); closes every socket before returning

  // Run by tasks the application posts.
  Result<std::string> bind(const std::string& address);
  void start_connect(const std::string& name, const std::string& address,
                     std::shared_ptr<std::promise<Status>> done);
  void disconnect(const std::string& name);

 private:
  struct Link {
    std::string name;
    std::string address;
    zmq::socket_t sock;
    zmq::socket_t mon;
    std::shared_ptr<std::promise<Status>> pending;  // connect() still waiting
    Clock::time_point deadline;
    std::string progress = "connecting";
    bool up = false;
    bool failure_logged = false;
    bool dead = false;           // closed at the end of the current loop iteration
    std::deque<Frames> backlog;  // zmq said "would block"; kept in order
  };
  struct Scheduled {
    Clock::time_point at;
    OutMsg msg;
  };
  enum class Kind { kWake, kTimer, kZap, kRouter, kRouterMon, kLink, kLinkMon };
  struct PollRef {
    Kind kind;
    Link* link;
  };
  enum class SendResult { kSent, kWouldBlock, kFailed };

  bool secure() const { return !options_.insecure; }
  void open_link(const std::string& name, const std::string& address,
                 std::shared_ptr<std::promise<Status>>& done);
  Status common_options(void* sock);
  Result<zmq::socket_t> attach_monitor(void* sock);
  int poll_timeout_ms() const;
  void dispatch(const PollRef& ref, short revents);

  void handle_posted();
  void submit(OutMsg&& msg);
  void release_due();
  void arm_timer(Clock::time_point at);
  void transmit(OutMsg& msg);
  SendResult try_send(void* sock, const std::string* routing_id, Frames& frames, int* err);
  void flush_link(Link& link);
  void flush_router();
  void unreachable(const PeerId& to, const std::string& why, const Frames& frames);

  void drain(void* sock, Link* link);
  bool read_multipart(void* sock, Frames* frames, bool* oversized);
  void on_message(const PeerId& from, Frames& frames);
  void on_malformed(const PeerId& from, const Status& why);
  void reply(const PeerId& to, const Message& request, Body body);

  void on_link_event(Link& link, const MonitorEvent& ev);
  void on_server_event(const MonitorEvent& ev);
  void report_rejection(const std::string& text);
  void fail_link(Link& link, Status why);
  void check_deadlines();
  void retire(std::map<std::string, std::unique_ptr<Link>>::iterator it);
  void reap_dead_links();
  void close_all();

  EndpointShared& shared_;
  const EndpointOptions& options_;
  zmq::context_t& ctx_;
  ClusterKey client_key_;
  TrafficShaper shaper_;
  int timer_fd_ = -1;
  int monitor_seq_ = 0;

  std::unique_ptr<ZapHandler> zap_;
  std::optional<zmq::socket_t> router_;
  std::optional<zmq::socket_t> router_mon_;
  std::deque<OutMsg> router_backlog_;
  std::map<std::string, std::unique_ptr<Link>> links_;
  std::vector<std::unique_ptr<Link>> graveyard_;  // retired this iteration
  std::deque<Scheduled> scheduled_;

  std::unordered_map<int, std::string> accepted_;  // fd -> peer IP, for rejection logs
  std::string pending_rejection_;  // reason waiting for the matching DISCONNECTED(fd)
  std::unordered_map<std::string, uint64_t> blast_bytes_;  // per peer+seq

  std::vector<zmq_pollitem_t> items_;
  std::vector<PollRef> refs_;
  Frames frames_;
  std::vector<OutMsg> posted_;
  std::vector<EndpointShared::Task> tasks_;
};

}  // namespace ll::net
