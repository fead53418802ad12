#include "model/engine.h"

namespace ll::model {

Result<std::unique_ptr<Engine>> Engine::create(const Model& m, int n_threads, int n_ctx,
                                               int max_seqs) {
  if (n_ctx <= 0) return invalid_argument("context length must be positive");
  std::unique_ptr<Engine> e(new Engine(m));
  LL_ASSIGN_OR_RETURN(e->whole_, graph::segment_at(m.graph, {}));
  LL_ASSIGN_OR_RETURN(e->exec_, graph::SegmentExecutor::create(m.graph, e->whole_, 0, *m.weights));
  e->kv_ = std::make_unique<graph::KvCache>(e->exec_->attention_layers(), m.hp().n_embd_kv(), n_ctx,
                                            max_seqs);
  e->pool_ = std::make_unique<ThreadPool>(n_threads);
  return e;
}

Result<std::vector<float>> Engine::eval(const graph::Batch& batch) {
  graph::TensorStore in, out;
  LL_RETURN_IF_ERROR(exec_->run(batch, in, &out, kv_.get(), pool_.get()));
  return std::move(out[model_.graph.logits]);
}

}  // namespace ll::model
