// What the head needs to rebuild the devices' state of every live sequence after the layout
// changed under it (a lost device, a re-admitted one): the rows each sequence has fed into the
// ring, and which of its passes still owe a sampled token. Replaying the fed rows as chunked
// prefill on the new layout rebuilds every KV cache; the pass that still owes a token is
// replayed with logits on its last row, and the token that comes back is reported under the
// original pass number, so the token loop above never sees the change.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "graph/batch.h"

namespace ll::runtime {

struct ReplayPass {
  graph::Batch batch;      // one sequence's rows, consecutive positions
  uint32_t owed_step = 0;  // the original pass whose token this replay returns (if logits)
  bool owes_token = false;
};

// Not thread-safe: the ring's token loop calls it (submit, tokens, ends, recovery).
class ReplayLog {
 public:
  // A pass the caller submitted: its rows are fed, and its logits rows owe tokens.
  void on_submit(uint32_t step, const graph::Batch& b);
  // A pass the ring submitted to replay `owed` (from plan()); its token answers for `owed`.
  void on_replay_submit(uint32_t step, const ReplayPass& owed);
  // A token arrived from pass `step` for `seq`: returns the pass number the caller knows it by.
  uint32_t on_token(int32_t seq, uint32_t step);
  void on_end(int32_t seq);
  // Everything sequence `seq` has fed, in chunks of at most `chunk` rows; the last row of the
  // last chunk wants logits when a token is still owed. Empty when nothing was fed.
  std::vector<ReplayPass> plan(int32_t seq, int chunk) const;
  // The layout changed: no pass of the old one will answer.
  void forget_passes() {
    owed_.clear();
    pass_end_.clear();
  }

  size_t fed_rows(int32_t seq) const;
  // n when the sequence has fed exactly positions 0..n-1 (what its KV rows hold), else -1.
  int n_positions(int32_t seq) const;
  // Positions [0, n) of the sequence that every device has computed: those of its passes
  // whose token (or scores) came back, and of every earlier pass (a sequence's passes run in
  // order on each device). A move pre-copies these rows while the sequence goes on.
  int answered_positions(int32_t seq) const;
  // Passes (wire pass, sequence) whose token has not been taken yet.
  std::vector<std::pair<uint32_t, int32_t>> owed() const;

 private:
  struct Row {
    int32_t pos, token;
  };
  std::map<int32_t, std::vector<Row>> fed_;  // by sequence, in submit order
  // (wire pass, sequence) -> the pass number the caller knows (equal unless replayed)
  std::map<std::pair<uint32_t, int32_t>, uint32_t> owed_;
  // (wire pass, sequence) of passes owing a token -> the sequence's last position in it + 1
  std::map<std::pair<uint32_t, int32_t>, int> pass_end_;
  std::map<int32_t, int> answered_;
};

}  // namespace ll::runtime
