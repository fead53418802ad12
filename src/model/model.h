// A loaded model: the GGUF mapping, its hyperparameters, its graph and views of its weights.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "gguf/gguf_file.h"
#include "graph/graph.h"
#include "graph/weights.h"

namespace ll::model {

struct Model {
  std::unique_ptr<gguf::File> file;
  graph::Graph graph;
  std::unique_ptr<graph::GgufWeights> weights;

  const graph::ModelDims& hp() const { return graph.hp; }

  // progress(done, total) is called while the weights are paged in (a big model from a slow
  // disk takes a while; without it the first token would pay for it).
  static Result<std::unique_ptr<Model>> load(
      const std::string& path, const std::function<void(uint64_t, uint64_t)>& progress = nullptr);
};

// Prints a progress bar to stderr when it is a terminal, nothing otherwise.
std::function<void(uint64_t, uint64_t)> tty_progress(const std::string& what);

}  // namespace ll::model
