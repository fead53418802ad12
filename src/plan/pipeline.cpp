#include "plan/pipeline.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace ll::plan {
namespace {

// Passes simulated before the count starts, and counted, per wave: about 1 % sampling error
// on a ring whose hops have Wi-Fi tails.
constexpr int kWarmRounds = 20;
constexpr int kRounds = 600;
constexpr uint64_t kSeed = 1;

// One ordered device pair's messages in the simulation.
struct SimLink {
  int from_pos = 0, to_pos = 0;
  double bytes_per_row = 0;
  double inv_bw = 0;
  LatencyTail tail;
  double wire_free = 0;     // when serialization of the previous message ends
  double last_arrival = 0;  // arrivals never reorder (first in, first out)
};

}  // namespace

std::vector<int> wave_rows(const Evaluation& ev, int n_seqs) {
  const int n = std::max(1, n_seqs);
  const int waves = std::max<int>(1, static_cast<int>(ev.ring.size()));
  const int group = (n + waves - 1) / waves;
  std::vector<int> rows;
  for (int left = n; left > 0; left -= group) rows.push_back(std::min(group, left));
  return rows;
}

double rows_per_pass(const Evaluation& ev, int n_seqs) {
  return std::max(1, n_seqs) / static_cast<double>(wave_rows(ev, n_seqs).size());
}

double pass_s(const CostModel& cost, const Evaluation& ev, int d, double rows) {
  double extra = 0;
  for (int s = ev.first_segment[d]; s >= 0 && s <= ev.last_segment[d]; ++s) {
    const double er = cost.extra_row_s(s, d);
    extra += std::isnan(er) ? cost.compute_s(s, d) : er;
  }
  return ev.compute_s[d] + (rows - 1) * extra;
}

double tok_s_at_n_seqs(const CostModel& cost, const Evaluation& ev, int n_seqs) {
  if (ev.latency_s <= 0 || ev.ring.empty()) return 0;
  if (n_seqs <= 1) return 1 / ev.latency_s;
  const std::vector<int> rows = wave_rows(ev, n_seqs);
  const int R = static_cast<int>(ev.ring.size()), W = static_cast<int>(rows.size());
  std::vector<int> pos(cost.n_devices(), -1);
  for (int p = 0; p < R; ++p) pos[ev.ring[p]] = p;
  std::vector<SimLink> links;
  for (const Message& m : ev.messages) {
    links.push_back({pos[m.from], m.is_return ? R : pos[m.to], m.bytes,
                     cost.inv_bandwidth(m.from, m.to), cost.latency_tail(m.from, m.to)});
  }
  // pass_time[p][w]: device p's pass of wave w.
  std::vector<std::vector<double>> pass_time(R, std::vector<double>(W));
  for (int p = 0; p < R; ++p) {
    for (int w = 0; w < W; ++w) pass_time[p][w] = pass_s(cost, ev, ev.ring[p], rows[w]);
  }
  std::mt19937_64 rng(kSeed);
  std::vector<double> device_free(R, 0), token_at(W, 0), ready(R + 1, 0);
  double t_start = 0, tokens = 0;
  for (int k = 0; k < (kWarmRounds + kRounds) * W; ++k) {
    const int w = k % W;
    // ready[p]: when all of device p's inputs for this pass are there; R is the token's return.
    std::fill(ready.begin(), ready.end(), 0.0);
    ready[0] = token_at[w];
    for (int p = 0; p < R; ++p) {
      const double finish = std::max(device_free[p], ready[p]) + pass_time[p][w];
      device_free[p] = finish;
      if (R == 1) ready[R] = finish;  // the head alone samples its own token
      for (SimLink& l : links) {
        if (l.from_pos != p) continue;
        l.wire_free = std::max(l.wire_free, finish) + rows[w] * l.bytes_per_row * l.inv_bw;
        l.last_arrival = std::max(l.last_arrival, l.wire_free + l.tail.draw(rng));
        ready[l.to_pos] = std::max(ready[l.to_pos], l.last_arrival);
      }
    }
    token_at[w] = ready[R];
    if (k == kWarmRounds * W - 1) t_start = ready[R];
    if (k >= kWarmRounds * W) tokens += rows[w];
  }
  const double t_end = *std::max_element(token_at.begin(), token_at.end());
  return t_end > t_start ? tokens / (t_end - t_start) : 0;
}

}  // namespace ll::plan
