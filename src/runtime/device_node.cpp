#include "runtime/device_node.h"

#include "core/work_meter.h"

#include <algorithm>
#include <set>

#include "core/clock.h"
#include "core/log.h"
#include "model/perplexity.h"

namespace ll::runtime {

Result<std::unique_ptr<DeviceNode>> DeviceNode::create(const graph::Graph& g,
                                                       const graph::Segmentation& segments, int me,
                                                       const graph::WeightSource& weights,
                                                       int n_ctx, int max_seqs, int n_threads) {
  std::unique_ptr<DeviceNode> n(new DeviceNode());
  n->g_ = &g;
  n->seg_ = segments;
  n->map_ = graph::build_map(g, segments);
  n->me_ = me;
  n->is_tail_ = me == segments.size() - 1;
  LL_ASSIGN_OR_RETURN(n->exec_, graph::SegmentExecutor::create(g, segments, me, weights));
  n->kv_ = std::make_unique<graph::KvCache>(n->exec_->attention_layers(), g.hp.n_embd_kv(), n_ctx,
                                            max_seqs);
  n->pool_ = std::make_unique<ThreadPool>(n_threads);
  return n;
}

Result<bool> DeviceNode::accepts(uint32_t epoch, const char* what, const std::string& from) const {
  const uint32_t mine = epoch_.load();
  if (epoch == mine) return true;
  if (epoch > mine)
    return invalid_argument(std::string(what) + " from " + from + " is of epoch " +
                            std::to_string(epoch) + ", but device " + std::to_string(me_) +
                            " is deployed for epoch " + std::to_string(mine));
  LL_LOG_INFO("device %d: dropped %s of stale epoch %u from %s (deployed epoch %u)", me_, what,
              epoch, from.c_str(), mine);
  return false;
}

Status DeviceNode::receive(uint32_t step, const graph::Batch& batch, int tensor,
                           std::vector<float> data) {
  if (tensor < 0 || tensor >= static_cast<int>(g_->tensors.size())) {
    return invalid_argument("unknown tensor id " + std::to_string(tensor));
  }
  bool wanted = false;
  for (int t : exec_->inputs()) wanted |= t == tensor;
  if (!wanted)
    return invalid_argument("tensor '" + g_->tensors[tensor].name +
                            "' is not an input of segment " + std::to_string(me_));
  Pending& p = pending_[step];
  if (p.batch.n_rows() == 0) p.batch = batch;
  p.inputs[tensor] = std::move(data);
  return Status::ok();
}

bool DeviceNode::complete(const Pending& p) const {
  for (int t : exec_->inputs()) {
    if (t != g_->tokens && !p.inputs.count(t)) return false;
  }
  return p.batch.n_rows() > 0;
}

Status DeviceNode::run_ready(Outbox* out) {
  // A sequence's later pass must see the KV rows of its earlier ones, so a pass waits for
  // every earlier pending pass that shares a sequence with it, and for nothing else: a pass
  // that never completes blocks only its own sequences. Running a pass completes no other.
  std::set<int32_t> blocked;
  for (auto it = pending_.begin(); it != pending_.end();) {
    const graph::Batch& b = it->second.batch;
    bool free = true;
    for (int32_t s : b.seq) free = free && !blocked.count(s);
    if (free && complete(it->second)) {
      const double t0 = mono_now_s();
      Status st = run_one(it->first, it->second, out);
      record_pass(t0, mono_now_s());
      it = pending_.erase(it);
      LL_RETURN_IF_ERROR(st);
      continue;
    }
    blocked.insert(b.seq.begin(), b.seq.end());
    ++it;
  }
  return Status::ok();
}

void DeviceNode::record_pass(double t0, double t1) {
  constexpr size_t kTracePasses = 8192;
  std::lock_guard<std::mutex> lock(trace_mu_);
  trace_.emplace_back(t0, t1);
  if (trace_.size() > kTracePasses) trace_.pop_front();
}

std::vector<std::pair<double, double>> DeviceNode::passes_since(double t) const {
  std::lock_guard<std::mutex> lock(trace_mu_);
  std::vector<std::pair<double, double>> out;
  for (const auto& p : trace_)
    if (p.second > t) out.push_back(p);
  return out;
}

Status DeviceNode::run_one(uint32_t step, Pending& p, Outbox* out) {
  const WorkMeter meter(pool_.get());
  graph::TensorStore results;
  LL_RETURN_IF_ERROR(exec_->run(p.batch, p.inputs, &results, kv_.get(), pool_.get()));
  busy_s_ += meter.wall_s();
  work_s_ += meter.work_s();
  ++steps_run_;
  rows_run_ += static_cast<uint64_t>(p.batch.n_rows());
  for (int r = 0; r < p.batch.n_rows(); ++r) {
    int& n = computed_[p.batch.seq[r]];
    n = std::max(n, p.batch.pos[r] + 1);
  }
  // Group outgoing tensors by destination device: one message per consumer.
  std::map<int, std::vector<std::pair<int, std::vector<float>>>> by_dest;
  for (const graph::MapEdge& e : map_.edges) {
    if (e.producer != me_) continue;
    for (int c : e.consumers) {
      if (c >= 0) by_dest[c].emplace_back(e.tensor, results.at(e.tensor));
    }
  }
  for (auto& [dest, tensors] : by_dest)
    LL_RETURN_IF_ERROR(out->send_tensors(dest, step, p.batch, std::move(tensors)));
  if (is_tail_) return sample_rows(step, p.batch, results.at(g_->logits), out);
  return Status::ok();
}

Status DeviceNode::sample_rows(uint32_t step, const graph::Batch& batch,
                               const std::vector<float>& logits, Outbox* out) {
  const int n_vocab = g_->hp.n_vocab;
  int row = 0;
  std::map<int32_t, std::vector<double>> scores;  // this pass's scoring sequences
  for (int r = 0; r < batch.n_rows(); ++r) {
    if (!batch.want_logits[r]) continue;
    const int32_t seq = batch.seq[r];
    auto it = seqs_.find(seq);
    if (it == seqs_.end())
      return invalid_argument("sequence " + std::to_string(seq) + " was not started on the tail");
    SeqState& s = it->second;
    const float* row_logits = logits.data() + static_cast<size_t>(row) * n_vocab;  // [n_vocab]
    ++row;
    if (s.sampler.params().score) {
      // The function the single-device engine scores with: the figure is the same bit for bit.
      LL_ASSIGN_OR_RETURN(int32_t target, model::scoring_target(batch, r, n_vocab));
      scores[seq].push_back(model::token_log_prob(row_logits, n_vocab, target));
      continue;
    }
    const int32_t tok = s.sampler.sample(row_logits, n_vocab, s.history);
    s.history.push_back(tok);
    LL_RETURN_IF_ERROR(out->send_token(seq, step, tok, s.sampler.rng_state()));
  }
  for (auto& [seq, lp] : scores) LL_RETURN_IF_ERROR(out->send_scores(seq, step, std::move(lp)));
  return Status::ok();
}

std::vector<int> DeviceNode::consumers() const {
  std::vector<int> out;
  for (const graph::MapEdge& e : map_.edges) {
    if (e.producer != me_) continue;
    for (int c : e.consumers) {
      if (c >= 0 && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status DeviceNode::start_sequence(const SeqStartInfo& s) {
  if (s.kv_slot >= 0) LL_RETURN_IF_ERROR(kv_->bind(s.seq, s.kv_slot));
  if (!is_tail_) return Status::ok();
  model::Sampler sampler(s.sampling);
  sampler.set_rng_state(s.rng_state);
  seqs_.erase(s.seq);
  seqs_.emplace(s.seq, SeqState{std::move(sampler), s.history});
  return Status::ok();
}

void DeviceNode::end_sequence(int32_t seq) {
  kv_->release(seq);
  seqs_.erase(seq);
  computed_.erase(seq);
  imported_.erase(seq);
}

Status DeviceNode::relayout(const graph::Segmentation& segments, int me) {
  if (me < 0 || me >= segments.size() || segments.begin(me) != node_begin() ||
      segments.end(me) != node_end())
    return invalid_argument("a kept device must keep its op range");
  graph::TransmissionMap map = graph::build_map(*g_, segments);
  if (map.inputs[me] != exec_->inputs() || map.outputs[me] != exec_->outputs())
    return invalid_argument("the new layout changes the device's inputs or outputs");
  seg_ = segments;
  map_ = std::move(map);
  me_ = me;
  is_tail_ = me == segments.size() - 1;
  pending_.clear();
  return Status::ok();
}

Status DeviceNode::adopt(DeviceNode& old) {
  LL_RETURN_IF_ERROR(kv_->adopt(*old.kv_));
  computed_ = old.computed_;
  return Status::ok();
}

void DeviceNode::retain(const std::vector<int32_t>& live) {
  std::set<int32_t> keep(live.begin(), live.end()), gone;
  for (const auto& [seq, n] : computed_)
    if (!keep.count(seq)) gone.insert(seq);
  for (const auto& [seq, st] : seqs_)
    if (!keep.count(seq)) gone.insert(seq);
  for (int32_t seq : kv_->sequences())  // bound by a SEQ_START, never run here
    if (!keep.count(seq)) gone.insert(seq);
  for (int32_t seq : gone) end_sequence(seq);
}

Result<graph::KvRows> DeviceNode::export_kv(int32_t seq, int layer_begin, int layer_end,
                                            int n_pos) const {
  auto it = computed_.find(seq);
  const int have = it == computed_.end() ? 0 : it->second;
  if (have != n_pos)
    return unavailable("device " + std::to_string(me_) + " has computed " + std::to_string(have) +
                       " positions of sequence " + std::to_string(seq) + ", not " +
                       std::to_string(n_pos));
  return kv_->export_rows(seq, layer_begin, layer_end, n_pos);
}

Result<graph::KvRows> DeviceNode::export_kv_range(int32_t seq, int layer_begin, int layer_end,
                                                  int pos_begin, int pos_end) const {
  auto it = computed_.find(seq);
  if (it == computed_.end())
    return unavailable("device " + std::to_string(me_) + " has no rows of sequence " +
                       std::to_string(seq) + " (unknown here, or ended)");
  if (pos_begin < 0 || pos_end < pos_begin)
    return invalid_argument("positions [" + std::to_string(pos_begin) + ", " +
                            std::to_string(pos_end) + ") are not a range");
  if (it->second < pos_end)
    return unavailable("device " + std::to_string(me_) + " has computed " +
                       std::to_string(it->second) + " positions of sequence " +
                       std::to_string(seq) + ", not yet " + std::to_string(pos_end));
  return kv_->export_rows(seq, layer_begin, layer_end, pos_begin, pos_end);
}

Status DeviceNode::import_kv(int32_t seq, int slot, const graph::KvRows& rows) {
  if (rows.pos_begin > 0) {
    auto it = imported_.find(seq);
    for (int l : rows.layers) {
      const int have = it == imported_.end() || !it->second.count(l) ? 0 : it->second.at(l);
      if (have < rows.pos_begin)
        return unavailable("KV rows of sequence " + std::to_string(seq) + " layer " +
                           std::to_string(l) + " from position " + std::to_string(rows.pos_begin) +
                           ", but only positions [0, " + std::to_string(have) + ") of it are here");
    }
  }
  if (slot >= 0) LL_RETURN_IF_ERROR(kv_->bind(seq, slot));
  LL_RETURN_IF_ERROR(kv_->import_rows(seq, rows));
  const int end = rows.pos_begin + rows.n_pos;
  for (int l : rows.layers) {
    int& have = imported_[seq][l];
    have = std::max(have, end);
  }
  int& n = computed_[seq];
  n = std::max(n, end);
  return Status::ok();
}

}  // namespace ll::runtime
