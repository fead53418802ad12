#include "runtime/replay_log.h"

#include <algorithm>

namespace ll::runtime {

void ReplayLog::on_submit(uint32_t step, const graph::Batch& b) {
  for (int i = 0; i < b.n_rows(); ++i) {
    fed_[b.seq[i]].push_back({b.pos[i], b.tokens[i]});
    if (b.want_logits[i]) owed_[{step, b.seq[i]}] = step;
  }
  for (int i = 0; i < b.n_rows(); ++i) {
    if (!owed_.count({step, b.seq[i]})) continue;
    int& end = pass_end_[{step, b.seq[i]}];
    end = std::max(end, b.pos[i] + 1);
  }
}

void ReplayLog::on_replay_submit(uint32_t step, const ReplayPass& p) {
  if (p.owes_token && p.batch.n_rows() > 0) {
    owed_[{step, p.batch.seq[0]}] = p.owed_step;
    int& end = pass_end_[{step, p.batch.seq[0]}];
    for (int32_t pos : p.batch.pos) end = std::max(end, pos + 1);
  }
}

uint32_t ReplayLog::on_token(int32_t seq, uint32_t step) {
  if (auto e = pass_end_.find({step, seq}); e != pass_end_.end()) {
    int& n = answered_[seq];
    n = std::max(n, e->second);
    pass_end_.erase(e);
  }
  auto it = owed_.find({step, seq});
  if (it == owed_.end()) return step;
  const uint32_t known = it->second;
  owed_.erase(it);
  return known;
}

void ReplayLog::on_end(int32_t seq) {
  fed_.erase(seq);
  answered_.erase(seq);
  for (auto it = owed_.begin(); it != owed_.end();) {
    it = it->first.second == seq ? owed_.erase(it) : std::next(it);
  }
  for (auto it = pass_end_.begin(); it != pass_end_.end();) {
    it = it->first.second == seq ? pass_end_.erase(it) : std::next(it);
  }
}

int ReplayLog::answered_positions(int32_t seq) const {
  auto it = answered_.find(seq);
  return it == answered_.end() ? 0 : it->second;
}

size_t ReplayLog::fed_rows(int32_t seq) const {
  auto it = fed_.find(seq);
  return it == fed_.end() ? 0 : it->second.size();
}

int ReplayLog::n_positions(int32_t seq) const {
  auto f = fed_.find(seq);
  if (f == fed_.end()) return 0;
  std::vector<int32_t> pos;
  for (const Row& r : f->second) pos.push_back(r.pos);
  std::sort(pos.begin(), pos.end());
  for (size_t i = 0; i < pos.size(); ++i) {
    if (pos[i] != static_cast<int32_t>(i)) return -1;
  }
  return static_cast<int>(pos.size());
}

std::vector<std::pair<uint32_t, int32_t>> ReplayLog::owed() const {
  std::vector<std::pair<uint32_t, int32_t>> out;
  for (const auto& [key, known] : owed_) out.push_back(key);
  return out;
}

std::vector<ReplayPass> ReplayLog::plan(int32_t seq, int chunk) const {
  std::vector<ReplayPass> out;
  auto f = fed_.find(seq);
  if (f == fed_.end() || f->second.empty()) return out;
  std::vector<Row> rows = f->second;
  // Passes of one sequence run in submit order, so positions are already ascending; sorting
  // keeps a replay right even for a caller that submitted them otherwise.
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.pos < b.pos; });
  const std::pair<uint32_t, int32_t>* owed = nullptr;
  uint32_t owed_step = 0;
  for (const auto& [key, known] : owed_) {
    if (key.second == seq) owed = &key, owed_step = known;
  }
  const size_t n = std::max(1, chunk);
  for (size_t at = 0; at < rows.size(); at += n) {
    ReplayPass p;
    const size_t end = std::min(rows.size(), at + n);
    for (size_t i = at; i < end; ++i) {
      const bool logits = owed && i + 1 == rows.size();
      p.batch.add(rows[i].token, rows[i].pos, seq, logits);
    }
    p.owes_token = owed && end == rows.size();
    p.owed_step = owed_step;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace ll::runtime
