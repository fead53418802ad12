// The head's view of the device ring: start sequences, submit forward passes to the first
// device, collect sampled tokens. Implemented in-process (LocalRing) and over ZeroMQ
// (NetRing); the token loops above it do not know which. The ring owns the sequence table
// (every live request's state) and the pass numbers, so several callers can share one ring.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "graph/batch.h"
#include "model/sampler.h"
#include "runtime/sequence_table.h"

namespace ll::runtime {

// Whether the ring can serve (server /health, scheduler admission).
enum class RingState { kServing, kDegraded, kDown };
const char* ring_state_name(RingState s);  // "ok", "degraded", "down"

struct DeviceHealth {
  std::string name, address;
  std::string state;  // "up" (in the ring), "idle" (connected, not in the ring), "lost"
  bool operator==(const DeviceHealth&) const = default;
};

// One recovery from a lost device, for benchmarks and logs. Times on the ring's clock.
struct FailoverRecord {
  double noticed_s = 0;  // when the head took the loss in hand
  double plan_s = 0, deploy_s = 0, replay_s = 0, total_s = 0;  // replay_s: submitting it
  int n_devices = 0;                                           // in the new ring
  int n_seqs = 0;                                              // sequences replayed
  size_t n_rows = 0;                                           // tokens replayed
  std::string why;
};

// One move of work between devices by the load balancer (or a forced one).
struct MoveRecord {
  double at_s = 0;      // when it started, on the ring's clock
  double switch_s = 0;  // redeploy and replay submission; the pause adds the replay's compute
  std::string text;     // "moved phone-low layers 6-11 -> 9-11, ...: predicted 31 -> 38 tok/s"
  // Where the time went (seconds): from the decision to the switch (weights shipped in the
  // background, serving goes on), then the switch's parts: waiting for the passes in flight,
  // taking the moved KV rows, the DEPLOY round trip of each device (shown name, seconds; the
  // slowest bounds the deploy), the statistics baseline, submitting the replay (or the KV
  // import); and after the switch, the time to the first token of the new layout.
  double preship_s = 0, drain_s = 0, kv_export_s = 0, deploy_s = 0, stats_s = 0;
  double replay_s = 0, kv_import_s = 0, first_token_s = -1;
  double deploy_send_s = 0, head_node_s = 0;  // parts of deploy_s: DEPLOYs out, head's share
  std::vector<std::pair<std::string, double>> deploy_rtt_s;
  std::string mode;  // "replay": every live sequence replayed; "kv": KV rows moved
  int n_seqs = 0;
  int n_kept = 0, n_prepared = 0;  // workers that kept their deployment / installed a prepared one
  size_t n_rows = 0;               // rows replayed
  size_t kv_bytes = 0;             // KV bytes moved between devices at the switch
  // Pre-copy (docs/balance.md, "Moving"): before the switch, while serving went on, the rows
  // already computed were copied to their new owners (precopy_s from its start to its end,
  // precopy_bytes placed there), so the switch moved only the rows fed since. kv_full_bytes:
  // what the switch would have moved without it. precopy_ended: pre-copied sequences that
  // ended before the switch (their rows dropped); precopy_fresh: live sequences the switch
  // moved whole (started after the pre-copy, or whose pre-copy failed).
  double precopy_s = 0;
  size_t precopy_bytes = 0, kv_full_bytes = 0;
  int precopy_ended = 0, precopy_fresh = 0;
  // Weights shipped for it: 0 when every worker held what it needs (its own model file, or
  // a share preloaded with the overlap plan or left by an earlier move).
  size_t weight_bytes = 0;
};

struct RingHealth {
  RingState state = RingState::kServing;
  std::string message;  // why it is not serving
  std::vector<DeviceHealth> devices;
  uint64_t failovers = 0;
  std::vector<double> failover_s;            // duration of each recovery, oldest first
  std::vector<FailoverRecord> failover_log;  // the last 256 recoveries, oldest first
  uint64_t moves = 0;                        // load-balancing moves
  std::vector<MoveRecord> move_log;          // the last 256, oldest first
};

struct TokenEvent {
  int32_t seq = 0;
  uint32_t step = 0;
  int32_t token = 0;
  uint64_t rng_state = 0;  // the tail sampler's RNG after this token
  // A scoring sequence's pass (SamplerParams::score) answers with these instead of a token
  // (token -1): log p of each logits row's next token in the batch, in batch order.
  bool scored = false;
  std::vector<double> log_probs;
};

// The event of a scoring pass (token -1).
inline TokenEvent scores_event(int32_t seq, uint32_t step, std::vector<double> log_probs) {
  TokenEvent e;
  e.seq = seq;
  e.step = step;
  e.token = -1;
  e.scored = true;
  e.log_probs = std::move(log_probs);
  return e;
}

class Ring {
 public:
  virtual ~Ring() = default;

  // Opens the sequence in the table (which picks its KV slot) and starts it on the devices.
  Status start_sequence(int32_t seq, const model::SamplerParams& p,
                        const std::vector<int32_t>& history);
  // Forward pass number `step` (from new_pass()); devices run one sequence's passes in order.
  virtual Status submit(uint32_t step, const graph::Batch& batch) = 0;
  // StatusCode::kUnavailable means nothing arrived within the timeout; other codes are failures.
  // The token is recorded in the sequence table (a scoring pass's scores are not).
  Result<TokenEvent> next_token(double timeout_s);
  // Closes the sequence in the table and frees it on the devices.
  Status end_sequence(int32_t seq);
  virtual int n_ctx() const = 0;
  // Devices in the ring now, which a load balancer or a failover may change while it serves
  // (thread-safe); 0 when the ring does not say. A scheduler keeps as many passes in flight.
  virtual int live_devices() const { return 0; }
  // Health for /health and admission; a ring that cannot fail is always serving.
  virtual RingHealth health() const { return {}; }
  // Returns the health as soon as pred holds for it, or the current health after timeout_s
  // (server long-polls, tests): a deadline-bounded wait woken by health_changed(), not a poll.
  // A ring whose health never changes just answers at once or at the timeout.
  virtual RingHealth wait_health(const std::function<bool(const RingHealth&)>& pred,
                                 double timeout_s) const;
  // Wakes wait_health callers to look again. A ring calls it after every change of its
  // state or devices; a server that stops calls it so that its waits (whose predicates see
  // the stop) end at once instead of at their timeout.
  void health_changed() const;
  // Called by the token loop when it is idle: a ring that watches its devices handles lost
  // and returning ones here (failover, re-admission) when no token wait would notice them.
  virtual void maintain() {}

  // A sequence id this ring has never used. Ids are never reused, even across schedulers on
  // one ring: a reset of a finished sequence may still be on its way down the ring when the
  // next one starts, and must not end the new sequence that took its id.
  int32_t new_sequence_id() {
    int32_t id = next_seq_.fetch_add(1, std::memory_order_relaxed);
    if (id < 0) {  // wrapped after 2^31 sequences
      next_seq_.store(1, std::memory_order_relaxed);
      id = 0;
    }
    return id;
  }
  // Pass numbers are ring-wide: every caller's passes share one increasing sequence.
  uint32_t new_pass() { return next_pass_.fetch_add(1, std::memory_order_relaxed); }
  uint32_t passes_made() const { return next_pass_.load(std::memory_order_relaxed); }

  const SequenceTable& sequences() const { return table_; }

  // Time for deadlines and measurements; a test may swap in a FakeClock before use.
  const Clock& clock() const { return *clock_; }
  void set_clock(const Clock* c) { clock_ = c ? c : real_clock(); }

 protected:
  // The implementations: deliver a sequence start (KV slot per device, the tail's sampler),
  // wait for the next token, deliver a sequence end.
  virtual Status send_seq_start(const SeqRecord& rec) = 0;
  virtual Result<TokenEvent> wait_token(double timeout_s) = 0;
  virtual Status send_seq_end(int32_t seq) = 0;
  SequenceTable& table() { return table_; }

 private:
  std::atomic<int32_t> next_seq_{0};
  std::atomic<uint32_t> next_pass_{0};
  SequenceTable table_;
  const Clock* clock_ = real_clock();
  // health_changed() counts here; a waiter that read generation g before taking a snapshot
  // sleeps only while it is still g, so a change between the two is never missed.
  mutable std::mutex health_wait_mu_;
  mutable std::condition_variable health_cv_;
  mutable uint64_t health_generation_ = 0;
};

struct RingGeneration {
  std::vector<int32_t> prompt_tokens;
  std::vector<int32_t> tokens;
  double prefill_s = 0;  // until the first token
  double decode_s = 0;
  int decode_evals = 0;
  double prefill_tok_s() const { return prefill_s > 0 ? prompt_tokens.size() / prefill_s : 0; }
  double decode_tok_s() const { return decode_s > 0 ? decode_evals / decode_s : 0; }
};

// One sequence, one forward pass in flight: the single-stream token loop over any ring.
Result<RingGeneration> generate_on_ring(Ring& ring, const std::vector<int32_t>& prompt,
                                        int n_predict, const model::SamplerParams& sampling,
                                        const std::function<bool(int32_t)>& on_token,
                                        const std::function<bool(int32_t)>& is_eog,
                                        double token_timeout_s = 60.0);

}  // namespace ll::runtime
