// One forward step's rows: each row is a token of some sequence at some position. A prefill
// chunk has one sequence with consecutive positions; a micro-batched decode step has one row
// per sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ll::graph {

struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> pos;
  std::vector<int32_t> seq;
  std::vector<uint8_t> want_logits;  // rows whose logits the step must return

  int n_rows() const { return static_cast<int>(tokens.size()); }
  int n_out() const;
  void add(int32_t token, int32_t position, int32_t sequence, bool logits);

  // A single sequence's tokens at positions pos0.., logits for the last row only.
  static Batch prompt(const std::vector<int32_t>& tokens, int32_t pos0, int32_t seq = 0);
};

}  // namespace ll::graph
