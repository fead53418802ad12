// The aggregate decode rate of N concurrent streams, from their tokens' arrival times: what
// `cluster --streams N --json` reports and bench/paper.py compares with the planner's
// prediction for N sequences in flight.
#pragma once

#include <cstddef>
#include <vector>

namespace ll::runtime {

class StreamRates {
 public:
  explicit StreamRates(int n_streams);

  void on_token(int stream, double t_s);  // t_s: any monotonic clock, in seconds

  size_t n_tokens() const { return times_.size(); }
  // From the first token to the last, the first token of every stream (its prefill's) excluded.
  double decode_tok_s() const;
  // While every stream generates: from the moment the last stream has its first token to the
  // moment the first stream has its last. The ramp (prompts arriving one by one) and the drain
  // (fewer streams than the ring's waves can carry) are not "N streams in flight", and with a
  // few dozen tokens per stream they weigh a fifth of the run. 0 when that window holds fewer
  // than two tokens per stream.
  double steady_tok_s() const;

 private:
  std::vector<double> times_;  // every token's arrival, in arrival order
  std::vector<double> first_;  // per stream: its first token's arrival; < 0 before it
  std::vector<double> last_;   // per stream: its latest token's arrival
};

}  // namespace ll::runtime
