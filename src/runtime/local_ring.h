// A ring of DeviceNodes in one process: the reference the networked ring is compared with,
// and a way to test segment placement without sockets.
#pragma once

#include <deque>
#include <memory>

#include "runtime/device_node.h"
#include "runtime/ring.h"

namespace ll::runtime {

class LocalRing : public Ring, private Outbox {
 public:
  static Result<std::unique_ptr<LocalRing>> create(const graph::Graph& g,
                                                   const graph::Segmentation& per_device,
                                                   const graph::WeightSource& weights, int n_ctx,
                                                   int max_seqs, const std::vector<int>& threads);

  Status start_sequence(int32_t seq, const model::SamplerParams& p,
                        const std::vector<int32_t>& history) override;
  Status submit(uint32_t step, const graph::Batch& batch) override;
  Result<TokenEvent> next_token(double timeout_s) override;
  Status end_sequence(int32_t seq) override;
  int n_ctx() const override { return n_ctx_; }

 private:
  Status send_tensors(int to, uint32_t step, const graph::Batch& batch,
                      std::vector<std::pair<int, std::vector<float>>> tensors) override;
  Status send_token(int32_t seq, uint32_t step, int32_t token) override;
  Status send_scores(int32_t seq, uint32_t step, std::vector<double> log_probs) override;
  std::vector<std::unique_ptr<DeviceNode>> nodes_;
  std::deque<TokenEvent> tokens_;
  int n_ctx_ = 0;
};

}  // namespace ll::runtime
