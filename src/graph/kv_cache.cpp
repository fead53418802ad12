#include "graph/kv_cache.h"

namespace ll::graph {

KvCache::KvCache(std::vector<int> layers, int n_embd_kv, int n_ctx, int max_seqs)
    : layers_(std::move(layers)), n_embd_kv_(n_embd_kv), n_ctx_(n_ctx), max_seqs_(max_seqs) {
  for (size_t i = 0; i < layers_.size(); ++i) layer_index_[layers_[i]] = static_cast<int>(i);
  data_.assign(
      bytes_for(static_cast<int>(layers_.size()), n_embd_kv, n_ctx, max_seqs) / sizeof(float),
      0.0f);
}

Result<int> KvCache::slot(int32_t seq) {
  auto it = slots_.find(seq);
  if (it != slots_.end()) return it->second;
  std::vector<bool> used(max_seqs_, false);
  for (auto& [s, sl] : slots_) used[sl] = true;
  for (int i = 0; i < max_seqs_; ++i) {
    if (!used[i]) {
      slots_[seq] = i;
      return i;
    }
  }
  return out_of_memory("KV cache is full: " + std::to_string(max_seqs_) +
                       " sequences are active (raise --max-seqs)");
}

void KvCache::release(int32_t seq) {
  slots_.erase(seq);
}

float* KvCache::k(int layer, int slot) {
  const size_t per_seq = static_cast<size_t>(n_ctx_) * n_embd_kv_;
  const size_t base =
      (static_cast<size_t>(layer_index_.at(layer)) * max_seqs_ + slot) * 2 * per_seq;
  return data_.data() + base;
}

float* KvCache::v(int layer, int slot) {
  return k(layer, slot) + static_cast<size_t>(n_ctx_) * n_embd_kv_;
}

}  // namespace ll::graph
