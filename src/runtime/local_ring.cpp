#include "runtime/local_ring.h"

namespace ll::runtime {

Result<std::unique_ptr<LocalRing>> LocalRing::create(const graph::Graph& g,
                                                     const graph::Segmentation& per_device,
                                                     const graph::WeightSource& weights, int n_ctx,
                                                     int max_seqs,
                                                     const std::vector<int>& threads) {
  std::unique_ptr<LocalRing> r(new LocalRing());
  r->n_ctx_ = n_ctx;
  for (int i = 0; i < per_device.size(); ++i) {
    const int t = threads.empty() ? 1 : threads[i % threads.size()];
    LL_ASSIGN_OR_RETURN(auto node,
                        DeviceNode::create(g, per_device, i, weights, n_ctx, max_seqs, t));
    r->nodes_.push_back(std::move(node));
  }
  return r;
}

Status LocalRing::start_sequence(int32_t seq, const model::SamplerParams& p,
                                 const std::vector<int32_t>& history) {
  nodes_.back()->start_sequence(seq, p, history);
  return Status::ok();
}

Status LocalRing::submit(uint32_t step, const graph::Batch& batch) {
  nodes_[0]->submit(step, batch);
  return nodes_[0]->run_ready(this);
}

Status LocalRing::send_tensors(int to, uint32_t step, const graph::Batch& batch,
                               std::vector<std::pair<int, std::vector<float>>> tensors) {
  for (auto& [t, data] : tensors)
    LL_RETURN_IF_ERROR(nodes_[to]->receive(step, batch, t, std::move(data)));
  return nodes_[to]->run_ready(this);
}

Status LocalRing::send_token(int32_t seq, uint32_t step, int32_t token) {
  tokens_.push_back(TokenEvent{seq, step, token, {}});
  return Status::ok();
}

Status LocalRing::send_scores(int32_t seq, uint32_t step, std::vector<double> log_probs) {
  tokens_.push_back(TokenEvent{seq, step, -1, std::move(log_probs)});
  return Status::ok();
}

Result<TokenEvent> LocalRing::next_token(double) {
  if (tokens_.empty()) return unavailable("timeout: no token pending in the local ring");
  TokenEvent e = tokens_.front();
  tokens_.pop_front();
  return e;
}

Status LocalRing::end_sequence(int32_t seq) {
  for (auto& n : nodes_) n->end_sequence(seq);
  return Status::ok();
}

}  // namespace ll::runtime
