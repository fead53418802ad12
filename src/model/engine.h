// The single-device engine: the whole graph as one segment, with its own KV cache.
#pragma once

#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "graph/executor.h"
#include "model/model.h"

namespace ll::model {

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(const Model& m, int n_threads, int n_ctx,
                                                int max_seqs = 1);

  // Logits of the batch rows that want them: [n_out][n_vocab].
  Result<std::vector<float>> eval(const graph::Batch& batch);
  void release(int32_t seq) { kv_->release(seq); }

  int n_ctx() const { return kv_->n_ctx(); }
  int n_vocab() const { return model_.hp().n_vocab; }
  ThreadPool* pool() { return pool_.get(); }

 private:
  explicit Engine(const Model& m) : model_(m) {}
  const Model& model_;
  graph::Segmentation whole_;
  std::unique_ptr<graph::SegmentExecutor> exec_;
  std::unique_ptr<graph::KvCache> kv_;
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace ll::model
