// KV cache for the attention layers a device owns, for up to max_seqs sequences of n_ctx
// positions each. Preallocated, so memory use is known at plan time.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "core/status.h"

namespace ll::graph {

class KvCache {
 public:
  KvCache(std::vector<int> layers, int n_embd_kv, int n_ctx, int max_seqs);

  // Slot of a sequence, allocating a free one on first use.
  Result<int> slot(int32_t seq);
  void release(int32_t seq);
  bool has_layer(int layer) const { return layer_index_.count(layer) > 0; }

  float* k(int layer, int slot);  // [n_ctx][n_embd_kv]
  float* v(int layer, int slot);  // [n_ctx][n_embd_kv]
  int n_ctx() const { return n_ctx_; }
  int n_embd_kv() const { return n_embd_kv_; }
  const std::vector<int>& layers() const { return layers_; }
  size_t bytes() const { return data_.size() * sizeof(float); }
  static size_t bytes_for(int n_layers, int n_embd_kv, int n_ctx, int max_seqs) {
    return 2ull * n_layers * n_embd_kv * n_ctx * max_seqs * sizeof(float);
  }

 private:
  std::vector<int> layers_;
  std::map<int, int> layer_index_;
  int n_embd_kv_, n_ctx_, max_seqs_;
  std::map<int32_t, int> slots_;
  std::vector<float> data_;  // [layer][slot][k|v][n_ctx][n_embd_kv]
};

}  // namespace ll::graph
