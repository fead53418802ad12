#include "net/endpoint_shared.h"

#include <sys/eventfd.h>
#include <unistd.h>
#include <algorithm>

namespace ll::net {

namespace {
constexpr size_t kMaxRejectionsKept = 256;
}

EndpointShared::EndpointShared(size_t max_inbox)
    : max_inbox_(max_inbox == 0 ? 1 : max_inbox),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

EndpointShared::~EndpointShared() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void EndpointShared::wake() {
  uint64_t one = 1;
  // A full counter (never in practice) still leaves the fd readable, which is all we need.
  ssize_t n = ::write(wake_fd_, &one, sizeof one);
  (void)n;
}

void EndpointShared::post(OutMsg msg) {
  bool need_wake;
  {
    std::lock_guard<std::mutex> lk(out_mu_);
    out_.push_back(std::move(msg));
    // One eventfd write per batch: the I/O thread takes the whole queue when it wakes.
    need_wake = !wake_pending_;
    wake_pending_ = true;
  }
  if (need_wake) wake();
}

void EndpointShared::post_task(Task task) {
  bool need_wake;
  {
    std::lock_guard<std::mutex> lk(out_mu_);
    tasks_.push_back(std::move(task));
    need_wake = !wake_pending_;
    wake_pending_ = true;
  }
  if (need_wake) wake();
}

void EndpointShared::request_stop() {
  stopping_.store(true, std::memory_order_release);
  wake();
}

void EndpointShared::take_posted(std::vector<OutMsg>* msgs, std::vector<Task>* tasks) {
  uint64_t counter;
  ssize_t n = ::read(wake_fd_, &counter, sizeof counter);
  (void)n;
  std::lock_guard<std::mutex> lk(out_mu_);
  msgs->swap(out_);
  tasks->swap(tasks_);
  wake_pending_ = false;
}

void EndpointShared::deliver(Received r) {
  {
    std::lock_guard<std::mutex> lk(in_mu_);
    inbox_.push_back(std::move(r));
    inbox_size_.store(inbox_.size(), std::memory_order_relaxed);
  }
  in_cv_.notify_one();
}

Result<Received> EndpointShared::recv(double timeout_s) {
  std::unique_lock<std::mutex> lk(in_mu_);
  auto ready = [&] { return !inbox_.empty() || closed_; };
  if (!ready()) {
    // Clamped: a huge timeout must not overflow the clock arithmetic (NaN fails > 0).
    auto wait = std::chrono::duration<double>(timeout_s > 0 ? std::min(timeout_s, 1e7) : 0);
    in_cv_.wait_for(lk, wait, ready);
  }
  if (inbox_.empty()) {
    if (closed_) return Status(StatusCode::kCancelled, "endpoint closed");
    return unavailable("no message within " + std::to_string(timeout_s) + " s");
  }
  const bool was_full = inbox_.size() >= max_inbox_;
  Received r = std::move(inbox_.front());
  inbox_.pop_front();
  inbox_size_.store(inbox_.size(), std::memory_order_relaxed);
  lk.unlock();
  // The I/O thread stopped reading sockets while the inbox was full; let it resume.
  if (was_full) wake();
  return r;
}

void EndpointShared::mark_closed() {
  {
    std::lock_guard<std::mutex> lk(in_mu_);
    closed_ = true;
  }
  in_cv_.notify_all();
  reply_cv_.notify_all();
}

void EndpointShared::expect_reply(uint32_t seq) {
  std::lock_guard<std::mutex> lk(in_mu_);
  replies_[seq].reset();
}

bool EndpointShared::offer_reply(uint32_t seq, Received& r) {
  {
    std::lock_guard<std::mutex> lk(in_mu_);
    auto it = replies_.find(seq);
    if (it == replies_.end() || it->second.has_value()) return false;
    it->second.emplace(std::move(r));
  }
  reply_cv_.notify_all();
  return true;
}

std::optional<Received> EndpointShared::wait_reply(uint32_t seq, Clock::time_point deadline) {
  std::unique_lock<std::mutex> lk(in_mu_);
  if (replies_.find(seq) == replies_.end()) return std::nullopt;
  // Look the slot up again after every wake-up: other threads' inserts may rehash the map.
  reply_cv_.wait_until(lk, deadline, [&] {
    auto f = replies_.find(seq);
    return closed_ || (f != replies_.end() && f->second.has_value());
  });
  auto it = replies_.find(seq);
  if (it == replies_.end()) return std::nullopt;
  std::optional<Received> out = std::move(it->second);
  replies_.erase(it);
  return out;
}

void EndpointShared::cancel_reply(uint32_t seq) {
  std::lock_guard<std::mutex> lk(in_mu_);
  replies_.erase(seq);
}

void EndpointShared::add_link_name(const std::string& name) {
  std::lock_guard<std::mutex> lk(misc_mu_);
  link_names_.insert(name);
}

void EndpointShared::remove_link_name(const std::string& name) {
  std::lock_guard<std::mutex> lk(misc_mu_);
  link_names_.erase(name);
}

bool EndpointShared::has_link_name(const std::string& name) const {
  std::lock_guard<std::mutex> lk(misc_mu_);
  return link_names_.count(name) > 0;
}

void EndpointShared::add_rejection(std::string text) {
  counters.rejected_peers.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lk(misc_mu_);
  if (rejections_.size() >= kMaxRejectionsKept) rejections_.erase(rejections_.begin());
  rejections_.push_back(std::move(text));
  rejection_cv_.notify_all();
}

std::vector<std::string> EndpointShared::rejections() const {
  std::lock_guard<std::mutex> lk(misc_mu_);
  return rejections_;
}

std::optional<std::string> EndpointShared::wait_rejection(const std::string& needle,
                                                          double timeout_s) const {
  std::optional<std::string> found;
  auto look = [&] {
    for (const std::string& r : rejections_) {
      if (r.find(needle) != std::string::npos) {
        found = r;
        return true;
      }
    }
    return false;
  };
  const double wait_s = timeout_s > 0 ? std::min(timeout_s, 1e7) : 0.0;  // NaN waits not
  std::unique_lock<std::mutex> lk(misc_mu_);
  rejection_cv_.wait_for(lk, std::chrono::duration<double>(wait_s), look);
  return found;
}

}  // namespace ll::net
