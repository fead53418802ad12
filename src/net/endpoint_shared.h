// Internal: the state an Endpoint's application threads and its I/O thread share, and the
// hand-offs between them (outgoing queue + eventfd wake-up, inbox, replies to probes).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/endpoint.h"

namespace ll::net {

class IoLoop;

struct OutMsg {
  PeerId to;
  Frames frames;
};

class EndpointShared {
 public:
  using Clock = std::chrono::steady_clock;
  using Task = std::function<void(IoLoop&)>;

  explicit EndpointShared(size_t max_inbox);
  ~EndpointShared();
  bool valid() const { return wake_fd_ >= 0; }
  int wake_fd() const { return wake_fd_; }

  // ---- application -> I/O thread
  void post(OutMsg msg);
  void post_task(Task task);
  void request_stop();
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  // I/O thread: clears the wake-up and takes everything queued so far.
  void take_posted(std::vector<OutMsg>* msgs, std::vector<Task>* tasks);

  // ---- I/O thread -> application
  void deliver(Received r);
  bool inbox_full() const { return inbox_size_.load(std::memory_order_relaxed) >= max_inbox_; }
  Result<Received> recv(double timeout_s);
  void mark_closed();

  // Replies (PONG, BLAST_ACK, HELLO_ACK, ERROR) matched to a waiting probe by seq_id.
  uint32_t next_seq() { return next_seq_.fetch_add(1, std::memory_order_relaxed); }
  void expect_reply(uint32_t seq);
  bool offer_reply(uint32_t seq, Received& r);  // I/O thread; true if a waiter took it
  std::optional<Received> wait_reply(uint32_t seq, Clock::time_point deadline);
  void cancel_reply(uint32_t seq);

  // Outgoing link names, so send() can fail at once for a peer we never connected.
  void add_link_name(const std::string& name);
  void remove_link_name(const std::string& name);
  bool has_link_name(const std::string& name) const;

  void add_rejection(std::string text);
  std::vector<std::string> rejections() const;
  std::optional<std::string> wait_rejection(const std::string& needle, double timeout_s) const;

  struct Counters {
    std::atomic<uint64_t> sent{0}, received{0}, bytes_sent{0}, bytes_received{0},
        dropped_malformed{0}, rejected_peers{0};
  } counters;

 private:
  void wake();

  const size_t max_inbox_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};

  std::mutex out_mu_;
  std::vector<OutMsg> out_;
  std::vector<Task> tasks_;
  bool wake_pending_ = false;

  mutable std::mutex in_mu_;
  std::condition_variable in_cv_;
  std::deque<Received> inbox_;
  std::atomic<size_t> inbox_size_{0};
  bool closed_ = false;

  std::condition_variable reply_cv_;
  std::unordered_map<uint32_t, std::optional<Received>> replies_;
  std::atomic<uint32_t> next_seq_{1};

  mutable std::mutex misc_mu_;
  std::set<std::string> link_names_;
  std::vector<std::string> rejections_;
  mutable std::condition_variable rejection_cv_;
};

}  // namespace ll::net
