// One device's share of a distributed run: a contiguous range of ops (its coarse segment),
// the KV cache of the attention layers in it, and, on the tail, the samplers. Transport-free:
// tensors arrive through receive(), and leave through an Outbox, so a whole ring can also be
// wired up in one process (tests) or over ZeroMQ (runtime/worker, runtime/net_ring).
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "graph/executor.h"
#include "model/sampler.h"

namespace ll::runtime {

class Outbox {
 public:
  virtual ~Outbox() = default;
  // Tensors (by graph tensor id) for device `to`, for forward pass `step` of `batch`.
  virtual Status send_tensors(int to, uint32_t step, const graph::Batch& batch,
                              std::vector<std::pair<int, std::vector<float>>> tensors) = 0;
  // The tail's sampled token for sequence `seq`, and its sampler's RNG state after it.
  virtual Status send_token(int32_t seq, uint32_t step, int32_t token, uint64_t rng_state) = 0;
  // A scoring sequence's pass (SamplerParams::score): log p of each logits row's next token.
  virtual Status send_scores(int32_t seq, uint32_t step, std::vector<double> log_probs) = 0;
};

// What a device needs to start a sequence (a SEQ_START): its KV slot and, on the tail, the
// sampler exactly where the head's sequence table says it is.
struct SeqStartInfo {
  int32_t seq = 0;
  int kv_slot = -1;  // -1: any free slot, taken on first use
  model::SamplerParams sampling;
  uint64_t rng_state = 0;
  std::vector<int32_t> history;  // prompt and generated tokens (repetition penalty)
};

class DeviceNode {
 public:
  // segments: one coarse segment per device in ring order; this node runs segment `me`.
  static Result<std::unique_ptr<DeviceNode>> create(const graph::Graph& g,
                                                    const graph::Segmentation& segments, int me,
                                                    const graph::WeightSource& weights, int n_ctx,
                                                    int max_seqs, int n_threads);

  // The deployment this node belongs to. Runtime messages of an older epoch are dropped with
  // a log line (a pass of a replaced layout can never complete, and must not block newer
  // ones); a newer epoch than the node's is an error.
  void set_epoch(uint32_t epoch) { epoch_.store(epoch); }
  uint32_t epoch() const { return epoch_.load(); }
  // true: handle the message; false: drop it (stale, logged). Errors for a future epoch.
  Result<bool> accepts(uint32_t epoch, const char* what, const std::string& from) const;

  // Stores an input tensor of a forward pass; the batch travels with every message.
  Status receive(uint32_t step, const graph::Batch& batch, int tensor, std::vector<float> data);
  // Head: a forward pass whose only input is the batch's token ids.
  void submit(uint32_t step, const graph::Batch& batch) { pending_[step].batch = batch; }
  // Runs every forward pass whose inputs are complete, and routes the outputs. One
  // sequence's passes run in step order; other sequences' passes never wait for them.
  Status run_ready(Outbox* out);
  bool has_pending() const { return !pending_.empty(); }

  // Every device: binds the KV slot. Tail: also the sampler.
  Status start_sequence(const SeqStartInfo& s);
  // Frees the sequence's KV slot (every device) and sampler (tail).
  void end_sequence(int32_t seq);

  // Moving work without replaying (docs/balance.md). The node's op range.
  int node_begin() const { return seg_.begin(me_); }
  int node_end() const { return seg_.end(me_); }
  // A new layout in which this node keeps its op range (maybe at another ring index): the
  // weights, KV rows and samplers stay, the routing follows the new segments, and passes
  // still pending (of the old layout) are dropped.
  Status relayout(const graph::Segmentation& segments, int me);
  // A fresh node of a new layout takes over the KV rows `old` holds for layers both run, and
  // which positions each sequence has computed.
  Status adopt(DeviceNode& old);
  // Frees every sequence not in `live` (their ends may have been dropped as stale).
  void retain(const std::vector<int32_t>& live);
  // KV rows [0, n_pos) of the layers in [layer_begin, layer_end) this node caches; fails
  // unless exactly n_pos positions of the sequence were computed here.
  Result<graph::KvRows> export_kv(int32_t seq, int layer_begin, int layer_end, int n_pos) const;
  // KV rows [pos_begin, pos_end) (a move's pre-copy or its delta): rows of computed positions
  // never change while the sequence lives, so they may be taken while it goes on. Fails
  // unless at least pos_end positions of the sequence were computed here.
  Result<graph::KvRows> export_kv_range(int32_t seq, int layer_begin, int layer_end, int pos_begin,
                                        int pos_end) const;
  // Binds the sequence to `slot` (-1: any) and writes the rows. Rows that do not start at
  // position 0 must continue rows imported before for every one of their layers (a move's
  // pre-copied rows, then its delta), so a lost piece is an error, never a hole.
  Status import_kv(int32_t seq, int slot, const graph::KvRows& rows);

  bool is_tail() const { return is_tail_; }
  // Devices this one sends activations to (ring indices, ascending).
  std::vector<int> consumers() const;
  int index() const { return me_; }
  const std::vector<int>& attention_layers() const { return exec_->attention_layers(); }
  graph::KvCache& kv() { return *kv_; }
  double busy_s() const { return busy_s_; }
  // The passes' work as this machine's idle cores would have done it (core/work_meter.h).
  double work_s() const { return work_s_; }
  uint64_t steps_run() const { return steps_run_; }
  // Batch rows over those passes: with pipelined streams a pass carries several.
  uint64_t rows_run() const { return rows_run_; }
  // [start, end] in mono_now_s() of the recent passes that ended after `t`, sends and an
  // emulated device's idling included: which device works when (bench/paper.sh's timeline).
  std::vector<std::pair<double, double>> passes_since(double t) const;

 private:
  struct Pending {
    graph::Batch batch;
    graph::TensorStore inputs;
  };
  struct SeqState {
    model::Sampler sampler;
    std::vector<int32_t> history;
  };
  DeviceNode() = default;
  bool complete(const Pending& p) const;
  Status run_one(uint32_t step, Pending& p, Outbox* out);
  void record_pass(double t0, double t1);
  Status sample_rows(uint32_t step, const graph::Batch& batch, const std::vector<float>& logits,
                     Outbox* out);

  const graph::Graph* g_ = nullptr;
  graph::Segmentation seg_;
  graph::TransmissionMap map_;
  int me_ = 0;
  bool is_tail_ = false;
  std::atomic<uint32_t> epoch_{0};
  std::unique_ptr<graph::SegmentExecutor> exec_;
  std::unique_ptr<graph::KvCache> kv_;
  std::unique_ptr<ThreadPool> pool_;
  std::map<uint32_t, Pending> pending_;
  std::map<int32_t, SeqState> seqs_;
  std::map<int32_t, int> computed_;  // positions of each sequence run here (max pos + 1)
  // Per sequence and imported layer: positions [0, n) imported without a hole.
  std::map<int32_t, std::map<int, int>> imported_;
  double busy_s_ = 0;
  double work_s_ = 0;
  uint64_t steps_run_ = 0;
  uint64_t rows_run_ = 0;
  mutable std::mutex trace_mu_;                  // stats are read from another thread
  std::deque<std::pair<double, double>> trace_;  // the last kTracePasses passes
};

}  // namespace ll::runtime
