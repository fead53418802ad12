#include "plan/dp.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <unordered_map>

namespace ll::plan {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kInf = std::numeric_limits<double>::infinity();

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The devices the DP chooses among. A "class" is a set of interchangeable devices; a run is
// labelled (class, ordinal) where the ordinal counts earlier runs of that class, which keeps
// labels canonical so that symmetric partial plans merge into one state.
struct Space {
  std::vector<std::vector<int>> members;  // class 0 is the head
  bool ordered = false;        // classes are single devices in ring order; code = last class used
  std::vector<int64_t> radix;  // !ordered: code = sum over classes of used-count * radix
};

struct KeyHash {
  size_t operator()(const std::vector<int32_t>& k) const {
    uint64_t h = 1469598103934665603ull;
    for (int32_t v : k) h = (h ^ static_cast<uint32_t>(v)) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

// A partial plan covering segments [0, boundary). key = [code lo, code hi, labels of the
// devices holding each pending edge source at this boundary].
struct State {
  std::vector<int32_t> key;
  double value = 0;
  int parent = -1;  // index at level `from`; -1 for the head run
  int from = 0;     // start of the last run
  int label = 0;    // label of the last run
};

struct Level {
  std::unordered_map<std::vector<int32_t>, int, KeyHash> index;
  std::vector<State> states;
};

class Dp {
 public:
  Dp(const CostModel& cost, Objective obj, Space space)
      : cost_(cost), obj_(obj), sp_(std::move(space)) {
    S_ = cost.n_segments();
    K_ = cost.n_devices();
    C_ = static_cast<int>(sp_.members.size());
    open_.resize(S_ + 1);
    in_edges_.resize(S_);
    for (const auto& e : cost.edges()) {
      in_edges_[e.to].push_back({e.from, e.bytes});
      for (int b = e.from + 1; b <= e.to; ++b) open_[b].push_back(e.from);
    }
    pos_open_.assign(static_cast<size_t>(S_ + 1) * S_, -1);
    for (int b = 0; b <= S_; ++b) {
      auto& o = open_[b];
      std::sort(o.begin(), o.end());
      o.erase(std::unique(o.begin(), o.end()), o.end());
      for (size_t i = 0; i < o.size(); ++i) pos_open_[static_cast<size_t>(b) * S_ + o[i]] = i;
    }
    for (auto& in : in_edges_) std::sort(in.begin(), in.end());
    lat_.assign(C_ * C_, 0);
    inv_.assign(C_ * C_, 0);
    for (int c1 = 0; c1 < C_; ++c1) {
      for (int c2 = 0; c2 < C_; ++c2) {
        // Messages always cross distinct devices; within a class use two distinct members.
        int d1 = sp_.members[c1][0];
        int d2 =
            c1 == c2 ? (sp_.members[c2].size() > 1 ? sp_.members[c2][1] : d1) : sp_.members[c2][0];
        lat_[c1 * C_ + c2] = cost.latency_s(d1, d2);
        inv_[c1 * C_ + c2] = cost.inv_bandwidth(d1, d2);
      }
    }
    for (int c = 0; c < C_; ++c) {
      int d = sp_.members[c][0];
      ret_hop_.push_back(cost.hop_s(d, cost.head(), kTokenIdBytes));
      ret_ser_.push_back(cost.serialize_s(d, cost.head(), kTokenIdBytes));
    }
  }

  // Returns false when nothing fits.
  // Stop (and report overflowed()) once more than max_states partial plans are stored.
  void set_max_states(size_t n) { max_states_ = n; }
  bool overflowed() const { return overflow_; }

  bool run(std::vector<int>* assignment) {
    levels_.assign(S_ + 1, Level{});
    best_ = kInf;
    expand(0, -1, 0, nullptr, 0);
    for (int a = 1; a < S_ && !overflow_; ++a) {
      Level& lv = levels_[a];
      for (size_t i = 0; i < lv.states.size(); ++i) {
        const State& st = lv.states[i];
        if (st.value >= best_) continue;
        int64_t code = static_cast<int64_t>(static_cast<uint32_t>(st.key[0])) |
                       (static_cast<int64_t>(st.key[1]) << 32);
        std::vector<int32_t> sigma(st.key.begin() + 2, st.key.end());
        expand(a, static_cast<int>(i), code, sigma.data(), st.value);
      }
    }
    if (best_ == kInf || overflow_) return false;
    assignment->assign(S_, -1);
    int end = S_, from = best_from_, parent = best_parent_, label = best_label_;
    while (true) {
      int dev = sp_.members[label / K_][label % K_];
      for (int s = from; s < end; ++s) (*assignment)[s] = dev;
      if (parent < 0) break;
      const State& st = levels_[from].states[parent];
      end = from;
      from = st.from;
      parent = st.parent;
      label = st.label;
    }
    return true;
  }

  double best() const { return best_; }

 private:
  // Extends the partial plan at boundary a by one run on each allowed class.
  void expand(int a, int parent, int64_t code, const int32_t* sigma, double value) {
    struct Option {
      int c, ord;
      int64_t code;
    };
    std::vector<Option> opts;
    if (parent < 0) {
      opts.push_back({0, 0, 0});  // the head run always comes first
    } else if (sp_.ordered) {
      for (int c = static_cast<int>(code) + 1; c < C_; ++c) opts.push_back({c, 0, c});
    } else {
      for (int c = 1; c < C_; ++c) {
        int64_t used = (code / sp_.radix[c]) % (sp_.members[c].size() + 1);
        if (used < static_cast<int64_t>(sp_.members[c].size())) {
          opts.push_back({c, static_cast<int>(used), code + sp_.radix[c]});
        }
      }
    }
    std::vector<int32_t> msg_label(open_[a].size());
    std::vector<double> msg_ser(open_[a].size());
    std::vector<int32_t> key;
    for (const Option& o : opts) {
      const int dev = sp_.members[o.c][0];
      const int label = o.c * K_ + o.ord;
      double comp = 0, need = 0, scratch = 0, lat_sum = 0, ser_max = 0;
      size_t n_msg = 0;
      for (int b = a + 1; b <= S_; ++b) {
        const int s = b - 1;
        comp += cost_.compute_s(s, dev);
        need += cost_.mem_need(s);
        scratch = std::max(scratch, cost_.scratch(s));
        if (!cost_.fits(need + scratch, dev)) break;
        for (const auto& [src, bytes] : in_edges_[s]) {
          if (src >= a) break;
          int32_t lab = sigma[pos_open_[static_cast<size_t>(a) * S_ + src]];
          int cs = lab / K_;
          size_t m = 0;
          while (m < n_msg && msg_label[m] != lab) ++m;
          if (m == n_msg) {  // first edge from that device: one more message
            msg_label[n_msg] = lab;
            msg_ser[n_msg++] = 0;
            lat_sum += lat_[cs * C_ + o.c];
          }
          double t = bytes * inv_[cs * C_ + o.c];
          msg_ser[m] += t;
          lat_sum += t;
          ser_max = std::max(ser_max, msg_ser[m]);
        }
        const double run = comp + cost_.working_set_extra_s(a, b, dev);
        double nv;
        if (obj_ == Objective::kLatency) {
          nv = value + run + lat_sum + (b == S_ ? ret_hop_[o.c] : 0);
        } else {
          nv = std::max({value, run, ser_max, b == S_ ? ret_ser_[o.c] : 0.0});
        }
        // Every term grows with b, so nothing longer can beat the best complete plan either.
        if (nv >= best_) break;
        if (b == S_) {
          best_ = nv;
          best_from_ = a;
          best_parent_ = parent;
          best_label_ = label;
          break;
        }
        key.assign({static_cast<int32_t>(o.code & 0xffffffff), static_cast<int32_t>(o.code >> 32)});
        for (int src : open_[b]) {
          key.push_back(src < a ? sigma[pos_open_[static_cast<size_t>(a) * S_ + src]] : label);
        }
        Level& lv = levels_[b];
        auto [it, inserted] = lv.index.try_emplace(key, static_cast<int>(lv.states.size()));
        if (inserted) {
          lv.states.push_back(State{key, nv, parent, a, label});
          if (max_states_ && ++n_states_ > max_states_) overflow_ = true;
        } else if (nv < lv.states[it->second].value) {
          State& st = lv.states[it->second];
          st.value = nv;
          st.parent = parent;
          st.from = a;
          st.label = label;
        }
      }
    }
  }

  const CostModel& cost_;
  Objective obj_;
  Space sp_;
  int S_ = 0, K_ = 0, C_ = 0;
  std::vector<std::vector<int>> open_;  // sources with an edge crossing each boundary
  std::vector<std::vector<std::pair<int, double>>> in_edges_;
  std::vector<int> pos_open_;
  std::vector<double> lat_, inv_, ret_hop_, ret_ser_;
  std::vector<Level> levels_;
  double best_ = kInf;
  int best_from_ = 0, best_parent_ = -1, best_label_ = 0;
  size_t max_states_ = 0, n_states_ = 0;
  bool overflow_ = false;
};

bool same_device(const CostModel& c, int d, int m) {
  if (c.budget(d) != c.budget(m)) return false;
  for (int s = 0; s < c.n_segments(); ++s) {
    if (c.compute_s(s, d) != c.compute_s(s, m)) return false;
    if (c.large_set_extra_s(s, d) != c.large_set_extra_s(s, m)) return false;
  }
  for (int x = 0; x < c.n_devices(); ++x) {
    if (x == d || x == m) continue;
    if (c.latency_s(d, x) != c.latency_s(m, x) || c.latency_s(x, d) != c.latency_s(x, m) ||
        c.inv_bandwidth(d, x) != c.inv_bandwidth(m, x) ||
        c.inv_bandwidth(x, d) != c.inv_bandwidth(x, m)) {
      return false;
    }
  }
  return c.latency_s(d, m) == c.latency_s(m, d) && c.inv_bandwidth(d, m) == c.inv_bandwidth(m, d);
}

Space exact_space(const CostModel& cost) {
  Space sp;
  sp.members = device_classes(cost);
  sp.radix.assign(sp.members.size(), 0);
  int64_t r = 1;
  for (size_t c = 1; c < sp.members.size(); ++c) {
    sp.radix[c] = r;
    r *= static_cast<int64_t>(sp.members[c].size()) + 1;
  }
  return sp;
}

Result<Solution> finish(const CostModel& cost, Objective obj, Dp& dp, const char* method,
                        bool exact, Clock::time_point t0) {
  Solution sol;
  if (!dp.run(&sol.device_of_segment)) {
    if (dp.overflowed()) return unsupported("the exact DP's state space is too large");
    return out_of_memory("no contiguous assignment fits the memory budgets");
  }
  sol.objective_s = evaluate(cost, sol.device_of_segment).objective(obj);
  sol.proven_optimal = exact;
  sol.method = method;
  sol.solve_s = seconds_since(t0);
  return sol;
}

}  // namespace

std::vector<std::vector<int>> device_classes(const CostModel& cost) {
  std::vector<std::vector<int>> classes{{cost.head()}};
  for (int d = 0; d < cost.n_devices(); ++d) {
    if (d == cost.head()) continue;
    bool placed = false;
    for (size_t c = 1; c < classes.size() && !placed; ++c) {
      bool all = true;
      for (int m : classes[c]) all = all && same_device(cost, d, m);
      if (all) {
        classes[c].push_back(d);
        placed = true;
      }
    }
    if (!placed) classes.push_back({d});
  }
  return classes;
}

double estimate_exact_dp_work(const CostModel& cost) {
  auto classes = device_classes(cost);
  double codes = 1;
  for (size_t c = 1; c < classes.size(); ++c) codes *= static_cast<double>(classes[c].size()) + 1;
  double S = cost.n_segments(), C = static_cast<double>(classes.size());
  return codes * C * C * S * S / 2;
}

Result<Solution> solve_dp_exact(const CostModel& cost, Objective obj, size_t max_states) {
  auto t0 = Clock::now();
  Dp dp(cost, obj, exact_space(cost));
  dp.set_max_states(max_states);
  return finish(cost, obj, dp, "dp-exact", true, t0);
}

Result<Solution> solve_dp_order(const CostModel& cost, Objective obj,
                                const std::vector<int>& order) {
  auto t0 = Clock::now();
  if (order.empty() || order[0] != cost.head()) {
    return invalid_argument("device order must start with the head device");
  }
  std::vector<bool> seen(cost.n_devices(), false);
  Space sp;
  sp.ordered = true;
  for (int d : order) {
    if (d < 0 || d >= cost.n_devices() || seen[d]) {
      return invalid_argument("device order has an unknown or repeated device");
    }
    seen[d] = true;
    sp.members.push_back({d});
  }
  Dp dp(cost, obj, std::move(sp));
  return finish(cost, obj, dp, "dp-order", false, t0);
}

}  // namespace ll::plan
