// Many requests in flight through the ring. Sequences are grouped into "waves" (one forward
// pass each) so that while device 2 works on one wave, device 1 already works on the next:
// pipeline parallelism across requests. Ready decode rows of several sequences share a wave
// (micro-batching: one matrix-matrix pass instead of several matrix-vector passes), and long
// prompts are cut into chunks submitted back to back (chunked, pipelined prefill).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/ring.h"

namespace ll::runtime {

struct GenRequest {
  std::vector<int32_t> prompt;
  int n_predict = 16;
  model::SamplerParams sampling;
  // Called on the scheduler thread for every token; return false to stop (client gone).
  std::function<bool(int32_t token)> on_token;
  // Called exactly once: finish_reason is "stop" (end-of-generation token), "length",
  // "cancelled" or "error" (then status says why).
  std::function<void(const Status& status, const std::string& finish_reason)> on_done;
  std::function<bool(int32_t)> is_eog;
};

struct SchedulerOptions {
  int max_seqs = 4;       // sequences with a KV slot at once (the devices' --max-seqs)
  int prefill_chunk = 0;  // prompt rows per forward pass; 0 = whole prompt at once
  int max_waves = 0;      // forward passes in flight; 0 = number of devices
  // Devices in the ring; 0 = as many as the ring has now (Ring::live_devices(), 1 when it does
  // not say), so the waves follow a ring that a balancer or a failover resized.
  int n_devices = 0;
  double ring_timeout_s = 120.0;  // no token for this long fails the in-flight requests
  const Clock* clock = nullptr;   // time for timeouts and statistics; null = the ring's clock
};

struct SchedulerStats {
  uint64_t requests_total = 0, requests_done = 0, requests_failed = 0, requests_cancelled = 0;
  uint64_t tokens_generated = 0, prompt_tokens = 0, waves = 0;
  size_t queue_depth = 0, active = 0;
  double ttft_sum_s = 0;  // over requests that got a first token
  uint64_t ttft_count = 0;
};

class Scheduler {
 public:
  Scheduler(Ring& ring, SchedulerOptions options);
  ~Scheduler();  // stops the loop; unfinished requests end as "cancelled"

  // Thread-safe. Errors (empty prompt, prompt + n_predict beyond the context) come back
  // immediately; otherwise the request id.
  Result<uint64_t> submit(GenRequest request);
  void cancel(uint64_t id);
  SchedulerStats stats() const;
  // Blocks until no request is queued or active (tests, benchmarks).
  void wait_idle();
  // The same for at most timeout_s, or until give_up() holds when it looks again (a request
  // ended, the loop idled, or wake_idle_waiters()). True when idle (server long-polls).
  bool wait_idle_for(double timeout_s, const std::function<bool()>& give_up = {});
  void wake_idle_waiters();

 private:
  struct Active {
    uint64_t id;
    GenRequest req;
    int32_t seq;
    size_t prompt_sent = 0;   // prompt rows submitted
    int pos = 0;              // next position to fill
    bool in_flight = false;   // a pass that will return this sequence's token is out
    int32_t next_token = -1;  // to submit at `pos` when not in flight
    int generated = 0;
    bool cancel = false;
    double t_submit = 0;
  };
  void loop();
  void admit();
  bool submit_waves();
  void on_token(const TokenEvent& ev);
  void finish(Active& a, const Status& st, const std::string& reason);
  void fail_all(const Status& st);
  bool idle() const;  // under mu_

  Ring& ring_;
  SchedulerOptions opt_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::pair<uint64_t, GenRequest>> queue_;
  std::vector<uint64_t> cancels_;
  std::map<int32_t, Active> active_;  // by sequence id (= KV slot owner)
  uint64_t next_id_ = 1;
  int waves_in_flight_ = 0;
  std::map<uint32_t, int> wave_rows_out_;  // step -> tokens still expected from it
  SchedulerStats stats_;
  size_t admitting_ = 0;  // taken from the queue, not yet in stats_.active: not idle
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ll::runtime
