#include "plan/pipeline.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace ll::plan {
namespace {

// Passes simulated before the count starts, and counted, per wave: about 1 % sampling error
// on a ring whose hops have Wi-Fi tails.
constexpr int kWarmRounds = 20;
constexpr int kRounds = 600;
constexpr uint64_t kSeed = 1;

struct SimMessage {
  int to_pos = 0;  // ring position; the ring's size for the token back to the head
  double bytes_per_row = 0;
  double inv_bw = 0;
  LatencyTail tail;
};

// A device's uplink, as the emulator shapes it (net/traffic_shaper.h) and as Wi-Fi has it: its
// messages are serialized one after another, delivered in order, and the messages of one pass,
// handed over together, travel at one latency draw (taken as the same quantile of each link's
// tail). Each device draws from its own stream, so two layouts are compared on the same draws.
struct Uplink {
  std::vector<SimMessage> messages;
  std::mt19937_64 rng;
  double wire_free = 0;
  double last_arrival = 0;
};

std::vector<Uplink> uplinks(const CostModel& cost, const Evaluation& ev) {
  const int R = static_cast<int>(ev.ring.size());
  std::vector<int> pos(cost.n_devices(), -1);
  for (int p = 0; p < R; ++p) pos[ev.ring[p]] = p;
  std::vector<Uplink> up(R);
  for (int p = 0; p < R; ++p) up[p].rng.seed(kSeed + static_cast<uint64_t>(ev.ring[p]));
  for (const Message& m : ev.messages) {
    // Edges run forward in segment order, so only the token goes back to the head.
    const int to = m.is_return ? R : pos[m.to];
    if (to <= pos[m.from]) continue;
    up[pos[m.from]].messages.push_back(
        {to, m.bytes, cost.inv_bandwidth(m.from, m.to), cost.latency_tail(m.from, m.to)});
  }
  return up;
}

// Sends device p's outputs of a pass of `rows` rows that ended at `finish`; ready[to] becomes
// when the last of its inputs has arrived.
void send(Uplink& u, double finish, int rows, std::vector<double>& ready) {
  if (u.messages.empty()) return;
  const double quantile = std::exponential_distribution<double>(1.0)(u.rng);
  u.wire_free = std::max(u.wire_free, finish);
  for (const SimMessage& m : u.messages) {
    u.wire_free += rows * m.bytes_per_row * m.inv_bw;
    const double delay = m.tail.shift_s + m.tail.tail_mean_s * quantile;
    u.last_arrival = std::max(u.last_arrival, u.wire_free + delay);
    ready[m.to_pos] = std::max(ready[m.to_pos], u.last_arrival);
  }
}

}  // namespace

std::vector<int> wave_rows(const Evaluation& ev, int n_seqs) {
  // Every prompt is a wave of its own while there are fewer waves than devices; after that a
  // returning wave goes out again with its own rows (at most ceil(n / devices)), so the first
  // waves' shapes stay: 8 streams on 3 devices 3, 3, 2; 4 streams on 3 devices 2, 1, 1.
  const int n = std::max(1, n_seqs);
  const int devices = std::max<int>(1, static_cast<int>(ev.ring.size()));
  const int waves = std::min(n, devices), group = (n + devices - 1) / devices;
  std::vector<int> rows;
  for (int i = 0, left = n; i < waves; ++i) {
    rows.push_back(std::min(group, left - (waves - i - 1)));
    left -= rows.back();
  }
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
  std::vector<Uplink> up = uplinks(cost, ev);
  std::vector<std::vector<double>> pass_time(R, std::vector<double>(W));  // [device][wave]
  for (int p = 0; p < R; ++p) {
    for (int w = 0; w < W; ++w) pass_time[p][w] = pass_s(cost, ev, ev.ring[p], rows[w]);
  }
  std::vector<double> device_free(R, 0), token_at(W, 0), ready(R + 1);
  double t_start = 0, tokens = 0;
  // Waves never overtake one another (every device and uplink is first in, first out), so
  // the passes can be run in submission order.
  for (int k = 0; k < (kWarmRounds + kRounds) * W; ++k) {
    const int w = k % W;
    std::fill(ready.begin(), ready.end(), 0.0);
    ready[0] = token_at[w];
    for (int p = 0; p < R; ++p) {
      const double finish = std::max(device_free[p], ready[p]) + pass_time[p][w];
      device_free[p] = finish;
      if (R == 1) ready[R] = finish;  // the head alone samples its own token
      send(up[p], finish, rows[w], ready);
    }
    token_at[w] = ready[R];
    if (k == kWarmRounds * W - 1) t_start = ready[R];
    if (k >= kWarmRounds * W) tokens += rows[w];
  }
  const double t_end = *std::max_element(token_at.begin(), token_at.end());
  if (!std::isfinite(t_end)) return std::numeric_limits<double>::quiet_NaN();
  return t_end > t_start ? tokens / (t_end - t_start) : 0;
}

}  // namespace ll::plan
