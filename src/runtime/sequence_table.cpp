#include "runtime/sequence_table.h"

namespace ll::runtime {

const char* seq_state_name(SeqState s) {
  switch (s) {
    case SeqState::kStarted:
      return "started";
    case SeqState::kGenerating:
      return "generating";
  }
  return "?";
}

std::vector<int32_t> SeqRecord::history() const {
  std::vector<int32_t> h = prompt;
  h.insert(h.end(), generated.begin(), generated.end());
  return h;
}

void SequenceTable::configure(int max_seqs, int n_devices) {
  std::lock_guard<std::mutex> lock(mu_);
  max_seqs_ = max_seqs > 0 ? max_seqs : 1;
  n_devices_ = n_devices > 0 ? n_devices : 1;
}

Result<SeqRecord> SequenceTable::open(int32_t id, const model::SamplerParams& p,
                                      const std::vector<int32_t>& prompt) {
  std::lock_guard<std::mutex> lock(mu_);
  if (seqs_.count(id)) return invalid_argument("sequence " + std::to_string(id) + " is live");
  SeqRecord r;
  r.id = id;
  r.prompt = prompt;
  r.sampling = p;
  r.rng_state = p.seed;
  if (max_seqs_ <= 0) {
    r.kv_slot.assign(n_devices_, -1);
    return seqs_[id] = r;
  }
  std::vector<bool> used(max_seqs_, false);
  for (const auto& [sid, rec] : seqs_) {
    if (!rec.kv_slot.empty() && rec.kv_slot[0] >= 0 && rec.kv_slot[0] < max_seqs_)
      used[rec.kv_slot[0]] = true;
  }
  int slot = -1;
  for (int i = 0; i < max_seqs_ && slot < 0; ++i) {
    if (!used[i]) slot = i;
  }
  if (slot < 0)
    return out_of_memory("every KV slot is taken: " + std::to_string(max_seqs_) +
                         " sequences are live (raise --max-seqs)");
  r.kv_slot.assign(n_devices_, slot);
  seqs_[id] = r;
  return r;
}

bool SequenceTable::on_token(int32_t id, int32_t token, uint64_t rng_state) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return false;
  it->second.generated.push_back(token);
  it->second.rng_state = rng_state;
  it->second.state = SeqState::kGenerating;
  return true;
}

void SequenceTable::close(int32_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  seqs_.erase(id);
}

std::optional<SeqRecord> SequenceTable::find(int32_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return std::nullopt;
  return it->second;
}

std::vector<SeqRecord> SequenceTable::live() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SeqRecord> out;
  for (const auto& [id, r] : seqs_) out.push_back(r);
  return out;
}

std::optional<double> SequenceTable::mean_position() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (seqs_.empty()) return std::nullopt;
  double sum = 0;
  for (const auto& [id, r] : seqs_)
    sum += static_cast<double>(r.prompt.size() + r.generated.size());
  return sum / static_cast<double>(seqs_.size());
}

size_t SequenceTable::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seqs_.size();
}

}  // namespace ll::runtime
