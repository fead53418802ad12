// Failover (docs/failover.md): a worker that is lost while serving is planned around, every
// live sequence is replayed on the new layout from the sequence table, and sampling resumes at
// the exact RNG position, so requests see a pause, never an error, and their tokens are those
// of an undisturbed run. A worker whose link comes back is re-admitted the same way.
#include <cstdio>
#include <map>

#include "core/log.h"
#include "runtime/net_ring.h"

namespace ll::runtime {

RingHealth NetRing::health() const {
  RingHealth h;
  std::lock_guard<std::mutex> lock(health_mu_);
  h.state = state_;
  h.message = state_why_;
  h.failovers = failovers_;
  h.failover_s = failover_s_;
  h.failover_log = failover_log_;
  h.moves = moves_;
  h.move_log = move_log_;
  h.devices = health_devices_;
  return h;
}

// Called by the token loop's thread, the only one that changes the layout and the lost set.
void NetRing::publish_health() {
  std::vector<DeviceHealth> devs;
  devs.push_back({shown_name_of(o_.name), "", "up"});
  for (const std::string& w : wnames_) {
    bool in_ring = false;
    for (const RingDevice& d : layout_.devices) in_ring = in_ring || d.name == w;
    const char* state = lost_.count(w) ? "lost" : in_ring ? "up" : "idle";
    devs.push_back({shown_name_of(w), w, state});
  }
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    // Every change of state_ (set_degraded, recover) is followed by this call, so waiters
    // (/health long-polls) learn of it here too. The token loop calls this for every token:
    // only a change wakes them.
    changed = devs != health_devices_ || state_ != announced_state_;
    health_devices_ = std::move(devs);
    announced_state_ = state_;
  }
  if (changed) health_changed();
}

Status NetRing::watch_devices() {
  std::vector<Failure> failures;
  std::set<std::string> back;
  {
    std::lock_guard<std::mutex> lock(rx_mu_);
    failures.assign(failures_.begin(), failures_.end());
    failures_.clear();
    back.swap(back_);
  }
  std::string why;
  bool loss = false;
  auto add = [&why](const std::string& s) { why += (why.empty() ? "" : "; ") + s; };
  for (const Failure& f : failures) {
    if (f.peer.empty()) return f.status;  // the head's own endpoint: nothing to fail over to
    if (f.peer == o_.name || !lost_.insert(f.peer).second) continue;
    LL_LOG_WARN("head: %s", f.status.message().c_str());
    bool in_ring = false;
    for (const RingDevice& d : layout_.devices) in_ring = in_ring || d.name == f.peer;
    if (in_ring || state_ != RingState::kServing) {
      add("device " + shown_name_of(f.peer) + " lost");
      loss = true;
    }
  }
  for (const std::string& b : back) {
    if (!lost_.erase(b)) continue;
    forget_held(b);  // it may have restarted with another cache: ask it again
    add("device " + shown_name_of(b) + " is back");
  }
  publish_health();
  if (!why.empty()) return recover(why, loss);
  if (state_ == RingState::kDegraded && sequences().size() > 0) {
    // Requests that have a token wait for capacity (a stream sees a pause); requests that
    // have none yet are refused at once, as new ones are.
    bool started = false;
    for (const SeqRecord& rec : sequences().live()) started = started || !rec.generated.empty();
    {
      std::lock_guard<std::mutex> lock(rx_mu_);
      started = started || !ready_.empty() || !tokens_.empty();
    }
    char buf[96];
    if (!started) {
      // Not kUnavailable, which token loops read as "no token yet": this ends the requests.
      return out_of_memory(state_why_ + "; no request had started, so none waits for capacity");
    }
    if (clock().now_s() - degraded_since_ > o_.failover_wait_s) {
      std::snprintf(buf, sizeof buf, "; no capacity came back within %.0f s", o_.failover_wait_s);
      return out_of_memory(state_why_ + buf);
    }
  }
  return Status::ok();
}

void NetRing::set_degraded(const std::string& why) {
  if (degraded_since_ < 0) degraded_since_ = clock().now_s();
  warn("ring degraded: " + why);
  if (o_.on_event) o_.on_event("degraded", why);
  std::lock_guard<std::mutex> lock(health_mu_);
  state_ = RingState::kDegraded;
  state_why_ = why;
}

Status NetRing::recover(const std::string& reason, bool loss) {
  std::lock_guard<std::mutex> deploying(deploy_mu_);
  const double t0 = clock().now_s();
  std::string why = reason;
  Status st;
  FailoverRecord rec;
  rec.noticed_s = t0;
  for (size_t attempt = 0; attempt <= wnames_.size(); ++attempt) {
    double t = clock().now_s();
    auto layout = plan_survivors();
    rec.plan_s += clock().now_s() - t;
    if (!layout.is_ok()) {
      set_degraded(why +
                   "; the remaining devices cannot hold the model: " + layout.status().message());
      publish_health();
      return Status::ok();  // requests in flight wait for capacity (watch_devices)
    }
    {
      std::lock_guard<std::mutex> lock(rx_mu_);
      last_failed_peer_.clear();
    }
    t = clock().now_s();
    st = deploy(*layout, epoch_ + 1, /*keep_tokens=*/true);
    rec.deploy_s += clock().now_s() - t;
    int n_seqs = 0;
    size_t n_rows = 0;
    t = clock().now_s();
    if (st.is_ok()) st = replay_sequences(&n_seqs, &n_rows);
    rec.replay_s += clock().now_s() - t;
    if (st.is_ok()) {
      const double dt = clock().now_s() - t0;
      rec.total_s = dt;
      rec.n_devices = layout_.size();
      rec.n_seqs = n_seqs;
      rec.n_rows = n_rows;
      rec.why = why;
      char line[160];
      std::snprintf(line, sizeof line,
                    "; replanned onto %d devices; replayed %d sequences, %zu tokens, in %.2f s",
                    layout_.size(), n_seqs, n_rows, dt);
      warn(why + line);
      if (o_.on_event) o_.on_event(loss ? "failover" : "readmit", why + line);
      degraded_since_ = -1;
      {
        std::lock_guard<std::mutex> lock(health_mu_);
        state_ = RingState::kServing;
        state_why_.clear();
        if (loss) {  // a re-admission is not a failover
          ++failovers_;
          failover_s_.push_back(dt);
          failover_log_.push_back(rec);
          if (failover_log_.size() > 256) failover_log_.erase(failover_log_.begin());
        }
      }
      publish_health();
      return Status::ok();
    }
    // Another device failed during the recovery: take it out too and try again.
    std::string peer;
    {
      std::lock_guard<std::mutex> lock(rx_mu_);
      peer = last_failed_peer_;
      for (const Failure& f : failures_) {
        if (f.peer.empty()) return f.status;
        lost_.insert(f.peer);
      }
      failures_.clear();
    }
    if (peer.empty() || peer == o_.name) return st;
    lost_.insert(peer);
    why += "; device " + shown_name_of(peer) + " lost during the recovery (" + st.message() + ")";
  }
  return st;
}

// The planner over the devices still there, with the profiles measured at start-up. Forced
// cuts (tests) are kept while enough devices remain, their segments on the survivors in order.
plan::Cluster NetRing::surviving_cluster(std::vector<int>* workers) const {
  workers->clear();
  for (size_t w = 0; w < wnames_.size(); ++w) {
    if (!lost_.count(wnames_[w])) workers->push_back(static_cast<int>(w));
  }
  std::vector<int> index = {0};
  for (int w : *workers) index.push_back(w + 1);
  plan::Cluster c;
  for (int i : index) c.devices.push_back(cluster_all_.devices[i]);
  c.links.assign(index.size(), std::vector<plan::LinkProfile>(index.size()));
  for (size_t i = 0; i < index.size(); ++i) {
    for (size_t j = 0; j < index.size(); ++j)
      c.links[i][j] = cluster_all_.links[index[i]][index[j]];
  }
  return c;
}

Result<RingLayout> NetRing::plan_survivors() {
  std::vector<int> workers;
  const plan::Cluster c = surviving_cluster(&workers);
  if (!o_.force_cuts.empty() && o_.force_cuts.size() <= workers.size()) {
    LL_ASSIGN_OR_RETURN(RingLayout l, layout_from_cuts(o_.force_cuts));
    for (int i = 1; i < l.size(); ++i)
      l.devices[i].name = l.devices[i].address = wnames_[workers[i - 1]];
    return l;
  }
  return plan_on(c, workers);
}

std::map<int32_t, std::vector<TokenEvent>> NetRing::settle_tokens() {
  // Tokens that arrived before the change are real: their passes are answered, they are
  // delivered first, and the tail's sampler resumes after them.
  std::map<int32_t, std::vector<TokenEvent>> arrived;
  std::lock_guard<std::mutex> lock(rx_mu_);
  for (TokenEvent e : tokens_) {
    e.step = replay_.on_token(e.seq, e.step);
    ready_.push_back(e);
  }
  tokens_.clear();
  for (const TokenEvent& e : ready_) arrived[e.seq].push_back(e);
  return arrived;
}

std::vector<SeqRecord> NetRing::live_records(int n_devices) {
  std::map<int32_t, std::vector<TokenEvent>> arrived = settle_tokens();
  std::vector<SeqRecord> out;
  for (SeqRecord rec : sequences().live()) {
    for (const TokenEvent& e : arrived[rec.id]) {
      rec.generated.push_back(e.token);
      rec.rng_state = e.rng_state;
    }
    rec.kv_slot.assign(n_devices, rec.kv_slot.empty() ? -1 : rec.kv_slot[0]);
    out.push_back(std::move(rec));
  }
  return out;
}

Status NetRing::replay_sequences(int* n_seqs, size_t* n_rows) {
  std::vector<std::pair<SeqRecord, std::vector<ReplayPass>>> work;
  for (SeqRecord& rec : live_records(layout_.size())) {
    std::vector<ReplayPass> passes = replay_.plan(rec.id, o_.replay_chunk);
    work.emplace_back(std::move(rec), std::move(passes));
  }
  replay_.forget_passes();  // no pass of the old layout will answer
  ThrottledOutbox out(this, node_.get(), &throttle_);
  for (const auto& [rec, passes] : work) {
    LL_RETURN_IF_ERROR(send_seq_start(rec));
    for (const ReplayPass& p : passes) {
      const uint32_t step = new_pass();
      replay_.on_replay_submit(step, p);
      node_->submit(step, p.batch);
      LL_RETURN_IF_ERROR(node_->run_ready(&out));
      *n_rows += p.batch.n_rows();
    }
  }
  *n_seqs = static_cast<int>(work.size());
  return Status::ok();
}

}  // namespace ll::runtime
