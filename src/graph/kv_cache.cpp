#include "graph/kv_cache.h"

#include <algorithm>
#include <cstring>

namespace ll::graph {

KvCache::KvCache(std::vector<int> layers, int n_embd_kv, int n_ctx, int max_seqs)
    : n_embd_kv_(n_embd_kv), n_ctx_(n_ctx), max_seqs_(max_seqs) {
  for (int l : layers) add_layer(l);
}

void KvCache::add_layer(int layer) {
  if (has_layer(layer)) return;
  layers_[layer].assign(2 * seq_floats() * max_seqs_, 0.0f);
}

std::vector<int> KvCache::layers() const {
  std::vector<int> out;
  for (const auto& [l, buf] : layers_) out.push_back(l);
  return out;
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

Status KvCache::bind(int32_t seq, int slot) {
  if (slot < 0 || slot >= max_seqs_)
    return invalid_argument("KV slot " + std::to_string(slot) + " is outside 0.." +
                            std::to_string(max_seqs_ - 1));
  for (auto& [s, sl] : slots_) {
    if (sl == slot && s != seq)
      return invalid_argument("KV slot " + std::to_string(slot) + " is still held by sequence " +
                              std::to_string(s));
  }
  slots_[seq] = slot;
  return Status::ok();
}

int KvCache::find_slot(int32_t seq) const {
  auto it = slots_.find(seq);
  return it == slots_.end() ? -1 : it->second;
}

void KvCache::release(int32_t seq) {
  slots_.erase(seq);
}

std::vector<int32_t> KvCache::sequences() const {
  std::vector<int32_t> out;
  for (const auto& [seq, sl] : slots_) out.push_back(seq);
  return out;
}

float* KvCache::k(int layer, int slot) {
  return layers_.at(layer).data() + static_cast<size_t>(slot) * 2 * seq_floats();
}

float* KvCache::v(int layer, int slot) {
  return k(layer, slot) + seq_floats();
}

Result<KvRows> KvCache::export_rows(int32_t seq, int layer_begin, int layer_end, int pos_begin,
                                    int pos_end) const {
  const int sl = find_slot(seq);
  if (sl < 0) return not_found("sequence " + std::to_string(seq) + " has no KV slot here");
  if (pos_begin < 0 || pos_end < pos_begin || pos_end > n_ctx_)
    return invalid_argument("cannot export positions [" + std::to_string(pos_begin) + ", " +
                            std::to_string(pos_end) + ") of a " + std::to_string(n_ctx_) +
                            "-position cache");
  KvRows r;
  r.pos_begin = pos_begin;
  r.n_pos = pos_end - pos_begin;
  r.n_embd_kv = n_embd_kv_;
  const size_t off = static_cast<size_t>(pos_begin) * n_embd_kv_;
  const size_t rows = static_cast<size_t>(r.n_pos) * n_embd_kv_;
  for (auto it = layers_.lower_bound(layer_begin); it != layers_.end() && it->first < layer_end;
       ++it) {
    r.layers.push_back(it->first);
    const float* k = it->second.data() + static_cast<size_t>(sl) * 2 * seq_floats() + off;
    r.data.insert(r.data.end(), k, k + rows);
    r.data.insert(r.data.end(), k + seq_floats(), k + seq_floats() + rows);
  }
  return r;
}

Status KvCache::import_rows(int32_t seq, const KvRows& rows) {
  if (rows.n_embd_kv != n_embd_kv_ || rows.pos_begin < 0 || rows.n_pos < 0 ||
      rows.n_pos > n_ctx_ - rows.pos_begin)
    return invalid_argument("KV rows of width " + std::to_string(rows.n_embd_kv) +
                            " and positions [" + std::to_string(rows.pos_begin) + ", " +
                            std::to_string(static_cast<int64_t>(rows.pos_begin) + rows.n_pos) +
                            ") do not fit this cache");
  const size_t n = static_cast<size_t>(rows.n_pos) * n_embd_kv_;
  const size_t off = static_cast<size_t>(rows.pos_begin) * n_embd_kv_;
  if (rows.data.size() != 2 * n * rows.layers.size())
    return invalid_argument("KV rows: data size does not match layers and positions");
  for (int l : rows.layers) {
    if (!has_layer(l))
      return invalid_argument("KV rows for layer " + std::to_string(l) +
                              ", which this cache does not hold");
  }
  LL_ASSIGN_OR_RETURN(int sl, slot(seq));
  for (size_t i = 0; i < rows.layers.size(); ++i) {
    const float* src = rows.data.data() + 2 * n * i;
    std::memcpy(k(rows.layers[i], sl) + off, src, n * sizeof(float));
    std::memcpy(v(rows.layers[i], sl) + off, src + n, n * sizeof(float));
  }
  return Status::ok();
}

Status KvCache::adopt(KvCache& from) {
  if (from.n_embd_kv_ != n_embd_kv_ || from.n_ctx_ != n_ctx_ || from.max_seqs_ != max_seqs_)
    return invalid_argument("cannot adopt a KV cache of another shape");
  for (auto& [l, buf] : layers_) {
    auto it = from.layers_.find(l);
    if (it == from.layers_.end()) continue;
    buf.swap(it->second);
    from.layers_.erase(it);
  }
  slots_ = from.slots_;
  return Status::ok();
}

}  // namespace ll::graph
