#include "runtime/device_node.h"

#include <algorithm>
#include <chrono>

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
  // Forward passes run in step order: a sequence's later step must see its earlier KV rows.
  while (!pending_.empty() && complete(pending_.begin()->second)) {
    auto it = pending_.begin();
    Status st = run_one(it->first, it->second, out);
    pending_.erase(it);
    LL_RETURN_IF_ERROR(st);
  }
  return Status::ok();
}

Status DeviceNode::run_one(uint32_t step, Pending& p, Outbox* out) {
  const auto t0 = std::chrono::steady_clock::now();
  graph::TensorStore results;
  LL_RETURN_IF_ERROR(exec_->run(p.batch, p.inputs, &results, kv_.get(), pool_.get()));
  busy_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++steps_run_;
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
  if (is_tail_) {
    const std::vector<float>& logits = results.at(g_->logits);
    const int n_vocab = g_->hp.n_vocab;
    int row = 0;
    std::map<int32_t, std::vector<double>> scores;  // scoring sequences of this pass
    for (int r = 0; r < p.batch.n_rows(); ++r) {
      if (!p.batch.want_logits[r]) continue;
      const int32_t seq = p.batch.seq[r];
      auto it = seqs_.find(seq);
      if (it == seqs_.end())
        return invalid_argument("sequence " + std::to_string(seq) + " was not started on the tail");
      const float* row_logits = logits.data() + static_cast<size_t>(row) * n_vocab;
      ++row;
      if (it->second.sampler.params().score) {
        LL_ASSIGN_OR_RETURN(int32_t target, model::scoring_target(p.batch, r, n_vocab));
        scores[seq].push_back(model::token_log_prob(row_logits, n_vocab, target));
        continue;
      }
      const int32_t tok = it->second.sampler.sample(row_logits, n_vocab, it->second.history);
      it->second.history.push_back(tok);
      LL_RETURN_IF_ERROR(out->send_token(seq, step, tok));
    }
    for (auto& [seq, lp] : scores) LL_RETURN_IF_ERROR(out->send_scores(seq, step, std::move(lp)));
  }
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

void DeviceNode::start_sequence(int32_t seq, const model::SamplerParams& p,
                                std::vector<int32_t> history) {
  seqs_.erase(seq);
  seqs_.emplace(seq, SeqState{model::Sampler(p), std::move(history)});
}

void DeviceNode::end_sequence(int32_t seq) {
  kv_->release(seq);
  seqs_.erase(seq);
}

}  // namespace ll::runtime
