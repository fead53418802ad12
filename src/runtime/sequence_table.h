// The one owner of every request's state (the head): per sequence its prompt and generated
// tokens, sampler configuration and RNG position, the KV slot it holds on each device, and its
// state. Everything a device knows about a sequence can be rebuilt from this record (replay
// after a failover, moves between devices), so devices hold caches, never the truth.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "core/status.h"
#include "model/sampler.h"

namespace ll::runtime {

enum class SeqState { kStarted, kGenerating };
const char* seq_state_name(SeqState s);

struct SeqRecord {
  int32_t id = 0;
  std::vector<int32_t> prompt;
  std::vector<int32_t> generated;
  model::SamplerParams sampling;
  uint64_t rng_state = 0;    // the tail sampler's RNG after the last generated token
  std::vector<int> kv_slot;  // per device, ring order
  SeqState state = SeqState::kStarted;

  // What the tail's sampler has seen: the repetition-penalty history.
  std::vector<int32_t> history() const;
};

// Thread-safe: the scheduler thread writes, statistics and tests read.
class SequenceTable {
 public:
  // Each device holds max_seqs KV slots; a sequence takes the same free slot everywhere.
  // Unconfigured (a ring that wraps another), slots are left to the devices (-1).
  void configure(int max_seqs, int n_devices);

  // A new live sequence; fails when every KV slot is taken or the id is live already.
  Result<SeqRecord> open(int32_t id, const model::SamplerParams& p,
                         const std::vector<int32_t>& prompt);
  // Records a sampled token and the RNG state after it; false for an unknown sequence.
  bool on_token(int32_t id, int32_t token, uint64_t rng_state);
  // Frees the sequence's KV slots; the record is gone afterwards.
  void close(int32_t id);

  std::optional<SeqRecord> find(int32_t id) const;
  std::vector<SeqRecord> live() const;
  size_t size() const;
  // Mean of the live sequences' positions (prompt + generated tokens), without copying their
  // tokens as live() does (the balancer asks every tick); none when no sequence is live.
  std::optional<double> mean_position() const;

 private:
  mutable std::mutex mu_;
  int max_seqs_ = 0, n_devices_ = 1;
  std::map<int32_t, SeqRecord> seqs_;
};

}  // namespace ll::runtime
