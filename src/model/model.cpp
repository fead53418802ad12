#include "model/model.h"

#include "model/arch.h"

#include <unistd.h>

#include <cstdio>

namespace ll::model {

Result<std::unique_ptr<Model>> Model::load(
    const std::string& path, const std::function<void(uint64_t, uint64_t)>& progress) {
  auto m = std::make_unique<Model>();
  LL_ASSIGN_OR_RETURN(m->file, gguf::File::open(path));
  LL_ASSIGN_OR_RETURN(m->graph, build_graph(*m->file));
  m->weights = std::make_unique<graph::GgufWeights>(*m->file);
  // Touch one byte per page so weights are resident before the first token.
  const uint8_t* p = m->file->mapped().data();
  const uint64_t n = m->file->mapped().size();
  const uint64_t step = 4096, report = 64ull << 20;
  volatile uint8_t sink = 0;
  for (uint64_t off = 0; off < n; off += step) {
    sink ^= p[off];
    if (progress && (off % report == 0)) progress(off, n);
  }
  (void)sink;
  if (progress) progress(n, n);
  return m;
}

std::function<void(uint64_t, uint64_t)> tty_progress(const std::string& what) {
  if (!isatty(STDERR_FILENO)) return nullptr;
  return [what](uint64_t done, uint64_t total) {
    const int pct = total ? static_cast<int>(100.0 * done / total) : 100;
    std::fprintf(stderr, "\r%s: %3d%% (%.1f / %.1f MiB)", what.c_str(), pct, done / 1048576.0,
                 total / 1048576.0);
    if (done >= total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

}  // namespace ll::model
