#include "graph/batch.h"

namespace ll::graph {

int Batch::n_out() const {
  int n = 0;
  for (uint8_t w : want_logits) n += w ? 1 : 0;
  return n;
}

void Batch::add(int32_t token, int32_t position, int32_t sequence, bool logits) {
  tokens.push_back(token);
  pos.push_back(position);
  seq.push_back(sequence);
  want_logits.push_back(logits ? 1 : 0);
}

Batch Batch::prompt(const std::vector<int32_t>& toks, int32_t pos0, int32_t seq) {
  Batch b;
  for (size_t i = 0; i < toks.size(); ++i) {
    b.add(toks[i], pos0 + static_cast<int32_t>(i), seq, i + 1 == toks.size());
  }
  return b;
}

}  // namespace ll::graph
