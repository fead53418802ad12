#include "graph/weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace ll::graph {

GgufWeights::GgufWeights(const gguf::File& file) {
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (!t.dtype) continue;
    views_[t.name] = WeightView{*t.dtype, t.data, t.ne, static_cast<size_t>(t.n_bytes)};
  }
}

const WeightView* GgufWeights::find(const std::string& name) const {
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : &it->second;
}

void GgufWeights::release(const WeightView& w) const {
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t b = (reinterpret_cast<uintptr_t>(w.data) + page - 1) / page * page;
  const uintptr_t e = (reinterpret_cast<uintptr_t>(w.data) + w.n_bytes) / page * page;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

void OwnedWeights::add(const std::string& name, DType type, std::vector<int64_t> ne,
                       std::vector<uint8_t> bytes) {
  auto& item = items_[name];
  item.second = std::move(bytes);
  item.first = WeightView{type, item.second.data(), std::move(ne), item.second.size()};
}

const WeightView* OwnedWeights::find(const std::string& name) const {
  auto it = items_.find(name);
  return it == items_.end() ? nullptr : &it->second.first;
}

}  // namespace ll::graph
