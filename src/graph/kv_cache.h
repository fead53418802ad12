// KV cache for the attention layers a device owns, for up to max_seqs sequences of n_ctx
// positions each. Each layer has its own buffer (preallocated, so memory use is known at plan
// time), so layers can be added and dropped when a boundary moves, and one sequence's rows of
// a layer range can be exported from one device and imported on another.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "core/status.h"

namespace ll::graph {

// One sequence's cached K and V for some layers and the n_pos positions from pos_begin.
struct KvRows {
  int pos_begin = 0;  // rows are positions [pos_begin, pos_begin + n_pos)
  int n_pos = 0;
  int n_embd_kv = 0;
  std::vector<int> layers;  // ascending
  std::vector<float> data;  // [layer][k|v][n_pos][n_embd_kv]
};

class KvCache {
 public:
  KvCache(std::vector<int> layers, int n_embd_kv, int n_ctx, int max_seqs);

  // Slot of a sequence, allocating a free one on first use.
  Result<int> slot(int32_t seq);
  // Gives a sequence the slot its owner (the head's sequence table) chose.
  Status bind(int32_t seq, int slot);
  // The sequence's slot, or -1.
  int find_slot(int32_t seq) const;
  void release(int32_t seq);
  std::vector<int32_t> sequences() const;  // those holding a slot
  bool has_layer(int layer) const { return layers_.count(layer) > 0; }
  // A new layer starts with no rows for any sequence; rows come from import_rows.
  void add_layer(int layer);
  void drop_layer(int layer) { layers_.erase(layer); }

  float* k(int layer, int slot);  // [n_ctx][n_embd_kv]
  float* v(int layer, int slot);  // [n_ctx][n_embd_kv]
  int n_ctx() const { return n_ctx_; }
  int n_embd_kv() const { return n_embd_kv_; }
  int max_seqs() const { return max_seqs_; }
  std::vector<int> layers() const;
  size_t bytes() const {
    return bytes_for(static_cast<int>(layers_.size()), n_embd_kv_, n_ctx_, max_seqs_);
  }
  static size_t bytes_for(int n_layers, int n_embd_kv, int n_ctx, int max_seqs) {
    return 2ull * n_layers * n_embd_kv * n_ctx * max_seqs * sizeof(float);
  }

  // Rows [0, n_pos) of a sequence for the cached layers in [layer_begin, layer_end).
  Result<KvRows> export_rows(int32_t seq, int layer_begin, int layer_end, int n_pos) const {
    return export_rows(seq, layer_begin, layer_end, 0, n_pos);
  }
  // Rows [pos_begin, pos_end) (a move's pre-copy and its delta, docs/balance.md).
  Result<KvRows> export_rows(int32_t seq, int layer_begin, int layer_end, int pos_begin,
                             int pos_end) const;
  // Writes exported rows (positions [rows.pos_begin, rows.pos_begin + rows.n_pos)) into the
  // sequence's slot (allocated if needed); every layer of `rows` must be cached here.
  Status import_rows(int32_t seq, const KvRows& rows);
  // Takes over `from`'s buffers of the layers both caches hold and its slot bindings, without
  // copying (a device whose layer range changed keeps the rows it has). `from` loses those
  // layers. The caches must have the same width, context and slot count.
  Status adopt(KvCache& from);

 private:
  size_t seq_floats() const { return static_cast<size_t>(n_ctx_) * n_embd_kv_; }
  int n_embd_kv_, n_ctx_, max_seqs_;
  std::map<int32_t, int> slots_;
  std::map<int, std::vector<float>> layers_;  // layer -> [slot][k|v][n_ctx][n_embd_kv]
};

}  // namespace ll::graph
