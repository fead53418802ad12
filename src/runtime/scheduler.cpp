#include "runtime/scheduler.h"

#include <algorithm>
#include <chrono>
#include <climits>

namespace ll::runtime {

Scheduler::Scheduler(Ring& ring, SchedulerOptions options)
    : ring_(ring), opt_(options), clock_(options.clock ? options.clock : &ring.clock()) {
  if (opt_.max_seqs < 1) opt_.max_seqs = 1;
  if (opt_.n_devices < 0) opt_.n_devices = 0;
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  stop_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<uint64_t> Scheduler::submit(GenRequest r) {
  if (r.prompt.empty()) return invalid_argument("the prompt has no tokens");
  if (r.n_predict < 1) return invalid_argument("max_tokens must be at least 1");
  const int64_t need = static_cast<int64_t>(r.prompt.size()) + r.n_predict;
  if (need > ring_.n_ctx()) {
    return invalid_argument("prompt (" + std::to_string(r.prompt.size()) +
                            " tokens) plus max_tokens " + std::to_string(r.n_predict) +
                            " exceeds the context of " + std::to_string(ring_.n_ctx()) + " tokens");
  }
  if (RingHealth h = ring_.health(); h.state != RingState::kServing)
    return unavailable("the cluster cannot serve now: " + h.message);
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_) return unavailable("the scheduler is shutting down");
  const uint64_t id = next_id_++;
  queue_.emplace_back(id, std::move(r));
  ++stats_.requests_total;
  stats_.queue_depth = queue_.size();
  cv_.notify_all();
  return id;
}

void Scheduler::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  cancels_.push_back(id);
  cv_.notify_all();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool Scheduler::idle() const {
  return queue_.empty() && admitting_ == 0 && stats_.active == 0;
}

void Scheduler::wait_idle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return idle() || stop_; });
}

bool Scheduler::wait_idle_for(double timeout_s, const std::function<bool()>& give_up) {
  const double wait_s = timeout_s > 0 ? std::min(timeout_s, 1e7) : 0.0;  // NaN waits not
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait_for(lock, std::chrono::duration<double>(wait_s),
                    [&] { return idle() || stop_ || (give_up && give_up()); });
  return idle();
}

void Scheduler::wake_idle_waiters() {
  { std::lock_guard<std::mutex> lock(mu_); }  // a waiter between its look and its sleep
  idle_cv_.notify_all();
}

void Scheduler::admit() {
  std::vector<std::pair<uint64_t, GenRequest>> admitted;
  std::vector<std::pair<uint64_t, GenRequest>> cancelled_queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t id : cancels_) {
      bool found = false;
      for (auto& [seq, a] : active_) {
        if (a.id == id) a.cancel = found = true;
      }
      if (found) continue;
      for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (it->first == id) {
          cancelled_queued.push_back(std::move(*it));
          queue_.erase(it);
          break;
        }
      }
    }
    cancels_.clear();
    while (!queue_.empty() && static_cast<int>(active_.size() + admitted.size()) < opt_.max_seqs) {
      admitted.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    stats_.queue_depth = queue_.size();
    stats_.requests_cancelled += cancelled_queued.size();
    admitting_ = admitted.size();
  }
  for (auto& [id, req] : cancelled_queued) {
    if (req.on_done) req.on_done(Status(StatusCode::kCancelled, "cancelled"), "cancelled");
  }
  // A cancelled sequence with nothing in flight would never see another token: end it now.
  // One whose prompt is partly sent goes on until its final chunk returns, so no device keeps
  // running chunks of a sequence that was already reset.
  std::vector<int32_t> idle_cancelled;
  for (auto& [seq, a] : active_) {
    const bool prompt_partly_sent = a.prompt_sent > 0 && a.prompt_sent < a.req.prompt.size();
    if (a.cancel && !a.in_flight && !prompt_partly_sent) idle_cancelled.push_back(seq);
  }
  for (int32_t seq : idle_cancelled)
    finish(active_.at(seq), Status(StatusCode::kCancelled, "cancelled"), "cancelled");
  for (auto& [id, req] : admitted) {
    // Sequence ids come from the ring, never reused (see Ring::new_sequence_id).
    const int32_t seq = ring_.new_sequence_id();
    Status st = ring_.start_sequence(seq, req.sampling, req.prompt);
    if (!st.is_ok()) {
      if (req.on_done) req.on_done(st, "error");
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.requests_failed;
      continue;
    }
    Active a{id, std::move(req), seq};
    a.t_submit = clock_->now_s();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.prompt_tokens += a.req.prompt.size();
    }
    active_.emplace(seq, std::move(a));
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.active = active_.size();
  admitting_ = 0;
}

// Returns true if anything was submitted.
bool Scheduler::submit_waves() {
  bool any = false;
  const int max_waves = opt_.max_waves > 0   ? opt_.max_waves
                        : opt_.n_devices > 0 ? opt_.n_devices
                                             : std::max(1, ring_.live_devices());
  // Prompts go out in chunks back to back; the devices run them in order, so chunk k+1 starts
  // on device 1 while chunk k runs on device 2. Only the final chunk returns a token.
  for (auto& [seq, a] : active_) {
    while ((!a.cancel || a.prompt_sent > 0) && a.prompt_sent < a.req.prompt.size()) {
      const size_t chunk = opt_.prefill_chunk > 0 ? opt_.prefill_chunk : a.req.prompt.size();
      const size_t n = std::min(chunk, a.req.prompt.size() - a.prompt_sent);
      const bool last = a.prompt_sent + n == a.req.prompt.size();
      if (last && waves_in_flight_ >= max_waves) break;
      graph::Batch b;
      for (size_t i = 0; i < n; ++i)
        b.add(a.req.prompt[a.prompt_sent + i], a.pos++, seq, last && i + 1 == n);
      a.prompt_sent += n;
      const uint32_t step = ring_.new_pass();
      Status st = ring_.submit(step, b);
      if (!st.is_ok()) {
        fail_all(st);
        return false;
      }
      any = true;
      if (last) {
        a.in_flight = true;
        wave_rows_out_[step] = 1;
        ++waves_in_flight_;
      }
    }
  }
  // Decode: ready sequences in groups, so several groups circle the ring at once.
  int n_active = static_cast<int>(active_.size());
  const int group = std::max(1, (n_active + max_waves - 1) / max_waves);
  while (waves_in_flight_ < max_waves) {
    graph::Batch b;
    for (auto& [seq, a] : active_) {
      if (a.in_flight || a.cancel || a.next_token < 0 || b.n_rows() >= group) continue;
      b.add(a.next_token, a.pos++, seq, true);
      a.next_token = -1;
      a.in_flight = true;
    }
    if (b.n_rows() == 0) break;
    const uint32_t step = ring_.new_pass();
    Status st = ring_.submit(step, b);
    if (!st.is_ok()) {
      fail_all(st);
      return false;
    }
    wave_rows_out_[step] = b.n_rows();
    ++waves_in_flight_;
    any = true;
  }
  if (any) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.waves;
  }
  return any;
}

void Scheduler::on_token(const TokenEvent& ev) {
  auto w = wave_rows_out_.find(ev.step);
  if (w != wave_rows_out_.end() && --w->second == 0) {
    wave_rows_out_.erase(w);
    --waves_in_flight_;
  }
  auto it = active_.find(ev.seq);
  if (it == active_.end()) return;  // a late token of a finished sequence
  Active& a = it->second;
  a.in_flight = false;
  ++a.generated;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.tokens_generated;
    if (a.generated == 1) {
      stats_.ttft_sum_s += clock_->now_s() - a.t_submit;
      ++stats_.ttft_count;
    }
  }
  if (a.cancel) return finish(a, Status(StatusCode::kCancelled, "cancelled"), "cancelled");
  if (a.req.on_token && !a.req.on_token(ev.token)) {
    return finish(a, Status(StatusCode::kCancelled, "client went away"), "cancelled");
  }
  if (a.req.is_eog && a.req.is_eog(ev.token)) return finish(a, Status::ok(), "stop");
  if (a.generated >= a.req.n_predict) return finish(a, Status::ok(), "length");
  a.next_token = ev.token;
}

void Scheduler::finish(Active& a, const Status& st, const std::string& reason) {
  const int32_t seq = a.seq;
  Status end = ring_.end_sequence(seq);
  GenRequest req = std::move(a.req);
  active_.erase(seq);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.active = active_.size();
    if (reason == "cancelled") {
      ++stats_.requests_cancelled;
    } else if (!st.is_ok()) {
      ++stats_.requests_failed;
    } else {
      ++stats_.requests_done;
    }
  }
  if (req.on_done) req.on_done(end.is_ok() ? st : end, end.is_ok() ? reason : "error");
  idle_cv_.notify_all();
}

void Scheduler::fail_all(const Status& st) {
  std::vector<int32_t> seqs;
  for (auto& [seq, a] : active_) seqs.push_back(seq);
  for (int32_t seq : seqs) finish(active_.at(seq), st, "error");
  wave_rows_out_.clear();
  waves_in_flight_ = 0;
}

void Scheduler::loop() {
  double last_progress = clock_->now_s();
  while (!stop_) {
    admit();
    if (submit_waves()) last_progress = clock_->now_s();
    if (waves_in_flight_ > 0) {
      bool waiting;
      {
        std::lock_guard<std::mutex> lock(mu_);
        waiting = !queue_.empty() || !cancels_.empty();
      }
      auto ev = ring_.next_token(waiting ? 0.002 : 0.05);
      if (ev.is_ok()) {
        on_token(*ev);
        last_progress = clock_->now_s();
        // The tail returns a wave's tokens back to back: take them all before forming the next
        // wave, or the wave would split into one-row passes and lose its micro-batching.
        while (wave_rows_out_.count(ev->step)) {
          auto more = ring_.next_token(0.005);
          if (!more.is_ok()) {
            // A failure (a lost device) must not be mistaken for "no token yet".
            if (more.status().code() != StatusCode::kUnavailable) fail_all(more.status());
            break;
          }
          on_token(*more);
        }
      } else if (ev.status().code() != StatusCode::kUnavailable) {
        fail_all(ev.status());
      } else if (clock_->now_s() - last_progress > opt_.ring_timeout_s) {
        fail_all(unavailable("no token from the ring for " + std::to_string(opt_.ring_timeout_s) +
                             " s"));
      }
      continue;
    }
    ring_.maintain();  // lost and returning devices, while no token wait would see them
    std::unique_lock<std::mutex> lock(mu_);
    idle_cv_.notify_all();
    cv_.wait_for(lock, std::chrono::milliseconds(50),
                 [this] { return stop_ || !queue_.empty() || !cancels_.empty(); });
  }
  // Shutdown: every unfinished request is told.
  std::vector<int32_t> seqs;
  for (auto& [seq, a] : active_) seqs.push_back(seq);
  for (int32_t seq : seqs)
    finish(active_.at(seq), Status(StatusCode::kCancelled, "server shutting down"), "cancelled");
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, req] : queue_) {
    if (req.on_done)
      req.on_done(Status(StatusCode::kCancelled, "server shutting down"), "cancelled");
  }
  queue_.clear();
  idle_cv_.notify_all();
}

}  // namespace ll::runtime
