// Where segment executors find weights by GGUF name: the mmapped model file, or buffers a
// worker received over the network.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/types.h"
#include "gguf/gguf_file.h"

namespace ll::graph {

struct WeightView {
  DType type = DType::kF32;
  const void* data = nullptr;
  std::vector<int64_t> ne;  // ne[0] = row length
  size_t n_bytes = 0;
  int64_t rows() const { return ne.size() > 1 ? ne[1] * (ne.size() > 2 ? ne[2] : 1) : 1; }
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual const WeightView* find(const std::string& name) const = 0;
  // The caller keeps its own copy of w (the packed layout) and will rarely read w again: the
  // source may drop w's memory, as long as later reads still see the same bytes.
  virtual void release(const WeightView& w) const { (void)w; }
};

// Views straight into the GGUF mapping: no copies.
class GgufWeights : public WeightSource {
 public:
  explicit GgufWeights(const gguf::File& file);
  const WeightView* find(const std::string& name) const override;
  // Drops the pages wholly inside w from this process (they are clean file pages: a later read
  // faults them back in from the file), so packed weights do not cost their size twice.
  void release(const WeightView& w) const override;

 private:
  std::map<std::string, WeightView, std::less<>> views_;
};

// Owns copies of selected weights (a worker holding only its segments).
class OwnedWeights : public WeightSource {
 public:
  void add(const std::string& name, DType type, std::vector<int64_t> ne,
           std::vector<uint8_t> bytes);
  const WeightView* find(const std::string& name) const override;

 private:
  std::map<std::string, std::pair<WeightView, std::vector<uint8_t>>, std::less<>> items_;
};

}  // namespace ll::graph
