// Runtime load balancing (docs/balance.md): every tick the head asks each device for its busy
// time and forward passes (asynchronously: the replies are taken at the next tick, so the token
// loop never waits for a busy device), turns them into a live speed per device, and asks the
// planner whether another layout would be better by the policy's margin. A move is a new epoch
// with the new layout; every live sequence is replayed on it, so tokens never change.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>

#include "core/log.h"
#include "plan/cost.h"
#include "runtime/net_ring.h"
#include "runtime/worker.h"

namespace ll::runtime {

namespace {

// A device `slowdown` times slower than profiled.
void slow_down(plan::DeviceProfile& p, double slowdown) {
  for (plan::RateTable* r : {&p.decode_bytes_per_s, &p.decode4_bytes_per_s,
                             &p.decode_large_bytes_per_s, &p.prefill_flops_per_s}) {
    for (auto& [t, v] : r->by_type) v /= slowdown;
    r->fallback /= slowdown;
  }
  p.other_flops_per_s /= slowdown;
  p.per_segment_overhead_s *= slowdown;
}

}  // namespace

void NetRing::request_move(RingLayout layout, std::string why) {
  std::lock_guard<std::mutex> lock(move_mu_);
  forced_move_ = std::make_pair(std::move(layout), std::move(why));
}

std::string NetRing::layers_of(const RingDevice& d) const {
  int lo = -1, hi = -1;
  for (int n = d.node_begin; n < d.node_end; ++n) {
    const int l = m_.graph.nodes[n].layer;
    if (l < 0) continue;
    lo = lo < 0 ? l : std::min(lo, l);
    hi = std::max(hi, l);
  }
  const std::string ops =
      " (ops " + std::to_string(d.node_begin) + "-" + std::to_string(d.node_end - 1) + ")";
  if (lo < 0) return "no layers" + ops;
  return (lo == hi ? "layer " + std::to_string(lo)
                   : "layers " + std::to_string(lo) + "-" + std::to_string(hi)) +
         ops;
}

std::string NetRing::describe_move(const RingLayout& from, const RingLayout& to) const {
  std::string out;
  for (const RingDevice& d : to.devices) {
    std::string before = "nothing";
    for (const RingDevice& o : from.devices) {
      if (o.name == d.name) before = layers_of(o);
    }
    const std::string after = layers_of(d);
    if (before != after)
      out += (out.empty() ? "" : ", ") + shown_name_of(d.name) + " " + before + " -> " + after;
  }
  for (const RingDevice& o : from.devices) {
    bool kept = false;
    for (const RingDevice& d : to.devices) kept = kept || d.name == o.name;
    if (!kept)
      out += (out.empty() ? "" : ", ") + shown_name_of(o.name) + " " + layers_of(o) + " -> nothing";
  }
  return out.empty() ? "nothing" : out;
}

Status NetRing::move_to(const RingLayout& layout, const std::string& why, double preship_s,
                        uint64_t shipped_from, std::optional<PreCopy> pre) {
  std::unique_lock<std::mutex> deploying(deploy_mu_);
  const double t0 = clock().now_s();
  const RingLayout before = layout_;
  MoveRecord rec;
  rec.at_s = t0;
  rec.preship_s = preship_s;
  rec.mode = "replay";
  std::string fallback;
  if (o_.kv_moves) {
    Status kst = move_kv(layout, &rec, std::move(pre));
    {
      std::lock_guard<std::mutex> lock(rx_mu_);
      kv_reqs_.clear();
    }
    if (!kst.is_ok()) {
      bool device_failed;
      {
        std::lock_guard<std::mutex> lock(rx_mu_);
        device_failed = !failures_.empty();
      }
      // A device failed meanwhile: the failover replans and replays (whatever this move
      // changed already, it redeploys every device).
      if (device_failed) {
        policy_.moved(clock().now_s());
        deploying.unlock();
        return watch_devices();
      }
      fallback = kst.message();
      warn("moving KV rows failed (" + fallback + "); replaying the live sequences instead");
      rec = MoveRecord{};
      rec.at_s = t0;
      rec.preship_s = preship_s;
      rec.mode = "replay";
    }
  }
  Status st;
  int n_seqs = rec.n_seqs;
  size_t n_rows = 0;
  if (rec.mode == "replay") {
    const double deploy_from = clock().now_s();
    st = deploy(layout, epoch_ + 1, /*keep_tokens=*/true);
    rec.deploy_s = clock().now_s() - deploy_from;
    rec.deploy_rtt_s = deploy_rtt_s_;
    rec.stats_s = deploy_stats_s_;
    rec.deploy_send_s = deploy_send_s_;
    rec.head_node_s = deploy_head_s_;
    rec.n_kept = deploy_kept_;
    rec.n_prepared = deploy_prepared_;
    const double replay_from = clock().now_s();
    if (st.is_ok()) st = replay_sequences(&n_seqs, &n_rows);
    rec.replay_s = clock().now_s() - replay_from;
  }
  if (!st.is_ok()) {
    // A device failed or refused during the move: the failover takes it from here.
    std::string peer;
    {
      std::lock_guard<std::mutex> lock(rx_mu_);
      peer = last_failed_peer_;
    }
    const bool lost = !peer.empty() && peer != o_.name;
    if (lost) lost_.insert(peer);
    deploying.unlock();
    return recover("moving the ring failed (" + st.message() + ")", lost);
  }
  const double dt = clock().now_s() - t0;
  policy_.moved(clock().now_s());
  char tail[160];
  if (rec.mode == "kv" && rec.precopy_bytes > 0) {
    std::snprintf(tail, sizeof tail,
                  "; switched in %.0f ms, moved KV rows of %d sequences (%.0f KiB pre-copied, "
                  "%.0f KiB at the switch)",
                  1e3 * dt, n_seqs, rec.precopy_bytes / 1024.0, rec.kv_bytes / 1024.0);
  } else if (rec.mode == "kv") {
    std::snprintf(tail, sizeof tail,
                  "; switched in %.0f ms, moved KV rows of %d sequences (%.0f KiB)", 1e3 * dt,
                  n_seqs, rec.kv_bytes / 1024.0);
  } else {
    std::snprintf(tail, sizeof tail, "; switched in %.0f ms, replayed %d sequences, %zu tokens",
                  1e3 * dt, n_seqs, n_rows);
  }
  std::string text = "moved " + describe_move(before, layout) + ": " + why + tail;
  rec.weight_bytes = weight_bytes_sent_ - shipped_from;
  if (rec.weight_bytes > 0) {
    std::snprintf(tail, sizeof tail, "; shipped %.1f MiB of weights first",
                  rec.weight_bytes / 1048576.0);
    text += tail;
  }
  if (!fallback.empty()) text += " (moving KV rows failed: " + fallback + ")";
  warn(text);
  if (o_.on_event) o_.on_event("rebalance", text);
  rec.switch_s = dt;
  rec.text = text;
  rec.n_seqs = n_seqs;
  rec.n_rows = n_rows;
  await_first_token_ = n_seqs > 0;
  moved_at_s_ = clock().now_s();
  std::lock_guard<std::mutex> lock(health_mu_);
  ++moves_;
  move_log_.push_back(rec);
  if (move_log_.size() > 256) move_log_.erase(move_log_.begin());
  return Status::ok();
}

// Every share the layout needs on a worker without its own model file, shipped unless it
// holds one already. Runs on its own thread: it reads only what setup fixed (names, profiles,
// the model) and the held shares (under their lock).
Status NetRing::preship(const RingLayout& layout, const RingLayout& before,
                        const std::vector<OpRange>& preload) {
  std::vector<std::pair<std::string, uint32_t>> asked;
  for (int i = 1; i < layout.size(); ++i) {
    const RingDevice& dev = layout.devices[i];
    LL_ASSIGN_OR_RETURN(nlohmann::json weights, weights_for(layout, i, preload[i]));
    bool kept = false;
    for (const RingDevice& o : before.devices) {
      kept = kept ||
             (o.name == dev.name && o.node_begin == dev.node_begin && o.node_end == dev.node_end);
    }
    if (kept || !o_.kv_moves) continue;
    nlohmann::json dj = deploy_json(layout, i, weights);
    dj["prepare"] = true;
    net::Message m;
    m.seq_id = next_request_.fetch_add(1);
    m.body = net::Deploy{dj.dump(), {}};
    {
      std::lock_guard<std::mutex> lock(rx_mu_);
      kv_reqs_.insert(m.seq_id);  // a refusal is the answer, not a failure of the device
    }
    asked.emplace_back(dev.name, m.seq_id);
    LL_RETURN_IF_ERROR(send_to(dev.name, std::move(m)));
  }
  for (const auto& [peer, req] : asked)
    LL_RETURN_IF_ERROR(wait_reply(peer, net::MsgType::kDeployAck, req, 120).status());
  return Status::ok();
}

// Called with rx_mu_ held: a stats reply the balancer asked for.
bool NetRing::take_stats_reply(const net::Received& r) {
  if (r.msg.type() != net::MsgType::kProfileResp) return false;
  auto asked = stats_reqs_.find(r.msg.seq_id);
  if (asked == stats_reqs_.end()) return false;
  // Figures of the deployment the request was sent in (a worker's reply carries no epoch).
  const uint32_t epoch = asked->second;
  stats_reqs_.erase(asked);
  auto j = nlohmann::json::parse(r.msg.as<net::ProfileResp>()->json, nullptr, false);
  if (j.is_object())
    live_stats_[r.from.name] = {epoch, j.value("busy_s", 0.0), j.value("steps", 0.0),
                                j.value("rows", 0.0)};
  return true;
}

void NetRing::ask_stats() {
  std::lock_guard<std::mutex> lock(rx_mu_);
  if (stats_reqs_.size() > 64) stats_reqs_.clear();  // replies that never came
  for (int i = 1; i < layout_.size(); ++i) {
    net::Message m;
    m.seq_id = next_request_.fetch_add(1);
    m.body = net::ProfileReq{R"({"stats":true})"};
    stats_reqs_[m.seq_id] = epoch_;
    m.session_id = session_id_;
    m.epoch = epoch_;
    (void)ep_->send(net::PeerId::outgoing(layout_.devices[i].name), std::move(m));
  }
  live_stats_[o_.name] = {epoch_, node_->busy_s() + throttle_.passes_paid_s(),
                          static_cast<double>(node_->steps_run()),
                          static_cast<double>(node_->rows_run())};
}

// Each device's measured time per pass against the planner's prediction for its share, as an
// exponentially weighted slowdown. Devices with a small share are left out: fixed costs
// dominate their passes, and their ratio says little about their speed.
void NetRing::update_speeds(const plan::CostModel& cost, const plan::Evaluation& predicted,
                            const std::vector<int>& workers, int n_seqs) {
  std::map<std::string, LiveStat> now;
  {
    std::lock_guard<std::mutex> lock(rx_mu_);
    now = live_stats_;
  }
  // Passes carry several rows when streams are pipelined; the prediction is for as many.
  const double rows = plan::rows_per_pass(predicted, n_seqs);
  std::vector<double> pred_s(predicted.compute_s.size(), 0.0);
  double max_pred = 0;
  for (size_t k = 0; k < pred_s.size(); ++k) {
    if (predicted.first_segment[k] >= 0)
      pred_s[k] = plan::pass_s(cost, predicted, static_cast<int>(k), rows);
    max_pred = std::max(max_pred, pred_s[k]);
  }
  const double alpha = policy_.options().ewma_alpha;
  for (size_t k = 0; k < predicted.compute_s.size(); ++k) {
    const std::string name = k == 0 ? o_.name : wnames_[workers[k - 1]];
    auto cur = now.find(name);
    auto prev = last_stats_.find(name);
    if (cur != now.end() && prev != last_stats_.end() && cur->second.epoch == prev->second.epoch &&
        cur->second.epoch == epoch_) {
      const double d_steps = cur->second.steps - prev->second.steps;
      const double d_busy = cur->second.busy_s - prev->second.busy_s;
      const double d_rows = cur->second.rows - prev->second.rows;
      // Against the rows the device really ran: the scheduler's waves need not be the
      // prediction's (a wave count set for another ring size, sequences ending, prompts).
      const double pred = d_rows >= d_steps && d_steps > 0 && predicted.first_segment[k] >= 0
                              ? plan::pass_s(cost, predicted, static_cast<int>(k), d_rows / d_steps)
                              : pred_s[k];
      if (d_steps >= 2 && d_busy > 0 && pred > 0) {
        const double ratio = d_busy / d_steps / pred;
        auto it = slowdown_.find(name);
        if (pred > 0.2 * max_pred) {
          slowdown_[name] =
              it == slowdown_.end() ? ratio : alpha * ratio + (1 - alpha) * it->second;
        } else {
          // A small share's ratio is not a device's slowdown: fixed per-pass costs and the
          // cost model's error on its few ops dominate it. It is trusted only to show a clear
          // recovery (beyond any +-20 % jitter) against the same share's own ratio earlier in
          // this epoch, so a device that was moved off because it slowed down is seen when its
          // speed comes back, and a share that merely measures differently moves nothing.
          auto [base, fresh] = small_share_ratio_.try_emplace(name, epoch_, ratio);
          auto& [base_epoch, base_ratio] = base->second;
          if (base_epoch != epoch_) {
            base_epoch = epoch_, base_ratio = ratio;  // a new share: its own baseline
          } else if (!fresh && it != slowdown_.end() && ratio < 0.7 * base_ratio) {
            slowdown_[name] = ratio;
          }
          base_ratio = alpha * ratio + (1 - alpha) * base_ratio;
        }
      }
    }
    if (cur != now.end()) last_stats_[name] = cur->second;
  }
}

Status NetRing::balance_tick() {
  std::optional<std::pair<RingLayout, std::string>> forced;
  {
    std::lock_guard<std::mutex> lock(move_mu_);
    forced.swap(forced_move_);
  }
  if (forced && pending_move_) {
    // One move at a time: the forced one waits for the pending one's switch.
    std::lock_guard<std::mutex> lock(move_mu_);
    if (!forced_move_) forced_move_.swap(forced);
  } else if (forced) {
    // Prepared here, on the token loop's thread, so a test's move starts at this wait; its
    // pre-copy and switch follow at the next waits, as a decided move's.
    const double t = clock().now_s();
    const uint64_t shipped_from = weight_bytes_sent_;
    Status st = preship(forced->first, layout_, preload_ranges(forced->first));
    if (!st.is_ok()) {
      warn("forced move abandoned: preparing it failed: " + st.message());
      return Status::ok();
    }
    std::promise<Status> shipped;
    shipped.set_value(Status::ok());
    pending_move_ =
        PendingMove{forced->first, forced->second, shipped.get_future(), t, shipped_from};
  }
  if (pending_move_) {
    PendingMove& pm = *pending_move_;
    if (!pm.precopy) {
      if (pm.shipped.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
        return Status::ok();
      Status st = pm.shipped.get();
      if (!st.is_ok()) {
        pending_move_.reset();
        warn("move abandoned: shipping its weights failed: " + st.message());
        policy_.abandoned(clock().now_s());  // no new attempt before the cooldown
        return Status::ok();
      }
      pm.shipped_s = clock().now_s() - pm.decided_s;
      PreCopy none;
      none.done_s = none.started_s = clock().now_s();
      if (o_.kv_moves && o_.kv_precopy) {
        auto p = start_precopy(pm.layout);
        if (p.is_ok()) {
          pm.precopy = std::move(*p);
        } else {
          warn("no pre-copy for this move: " + p.status().message());
          pm.precopy = none;
        }
      } else {
        pm.precopy = none;
      }
    }
    advance_precopy(*pm.precopy);
    if (!pm.precopy->done()) return Status::ok();
    if (o_.before_switch_for_test && !o_.before_switch_for_test()) return Status::ok();
    PendingMove ready = std::move(pm);
    pending_move_.reset();
    return move_to(ready.layout, ready.why, ready.shipped_s, ready.shipped_from,
                   std::move(ready.precopy));
  }
  if (!o_.rebalance || state_ != RingState::kServing || wnames_.empty()) return Status::ok();
  // Only a layout the planner chose is moved: forced cuts and baseline placements ("even",
  // "memory") are what the user asked to run (tests, baseline measurements).
  if (!o_.force_cuts.empty() || o_.placement != "plan") return Status::ok();
  const double now = clock().now_s();
  if (now < next_tick_s_) return Status::ok();
  next_tick_s_ = now + policy_.options().tick_s;
  LL_RETURN_IF_ERROR(ensure_model_profile());
  std::vector<int> workers;
  plan::Cluster live = surviving_cluster(&workers);
  const std::vector<int> current = assignment_of(layout_, workers);
  if (current.empty()) return Status::ok();  // a layout the planner cannot express
  const plan::RunConfig run = run_config();
  LL_ASSIGN_OR_RETURN(plan::CostModel profiled, plan::CostModel::build(*mp_, live, run));
  const int n_seqs = std::max<int>(1, static_cast<int>(sequences().size()));
  update_speeds(profiled, plan::evaluate(profiled, current), workers, n_seqs);
  ask_stats();
  // A device not measured yet (outside the ring) is assumed as slow against its profile as
  // the least slowed measured one: part of every ratio is the cost model's error on this
  // model, which that device shares. Taken as 1, it looked faster than the measured devices
  // whenever the model overestimates a pass, and moves to it disappointed.
  std::vector<double> slowdowns(live.devices.size(), 0.0);
  double prior = 0;
  for (size_t k = 0; k < live.devices.size(); ++k) {
    auto it = slowdown_.find(k == 0 ? o_.name : wnames_[workers[k - 1]]);
    if (it == slowdown_.end()) continue;
    slowdowns[k] = it->second;
    prior = prior > 0 ? std::min(prior, it->second) : it->second;
  }
  for (size_t k = 0; k < live.devices.size(); ++k) {
    if (!(slowdowns[k] > 0)) slowdowns[k] = prior > 0 ? prior : 1.0;
    slow_down(live.devices[k], slowdowns[k]);
  }
  LL_ASSIGN_OR_RETURN(plan::CostModel cost, plan::CostModel::build(*mp_, live, run));
  const plan::Evaluation cur = plan::evaluate(cost, current);
  plan::PlanOptions po;
  po.objective = o_.objective;
  po.n_seqs = n_seqs;
  auto best = plan::solve(cost, o_.objective, po);
  if (!best.is_ok() || !cur.invalid.empty()) return Status::ok();
  const plan::Evaluation next = plan::evaluate(cost, best->device_of_segment);
  // Judged as the runtime runs it: the live streams' waves simulated around the ring, bound by
  // the slowest stage and by their round trips (a bottleneck alone overstates what a move
  // gains when the ring's hops are what limits it).
  auto tok_s = [&](const plan::Evaluation& ev) {
    return o_.objective == plan::Objective::kLatency ? 1 / ev.latency_s
                                                     : plan::tok_s_at_n_seqs(cost, ev, n_seqs);
  };
  const double cur_tok = tok_s(cur);
  const double best_tok = tok_s(next);
  if (!policy_.should_move(now, passes_made(), cur_tok, best_tok)) return Status::ok();
  LL_ASSIGN_OR_RETURN(RingLayout layout, layout_from_assignment(best->device_of_segment, workers));
  char why[96];
  std::snprintf(why, sizeof why, "predicted %.1f -> %.1f tok/s (live slowdown", cur_tok, best_tok);
  std::string text = why;
  for (size_t k = 0; k < live.devices.size(); ++k) {
    std::snprintf(why, sizeof why, " %s %.2f", live.devices[k].name.c_str(), slowdowns[k]);
    text += why;
  }
  // Weights the new layout needs go out now, while serving continues; the switch follows.
  const uint64_t shipped_from = weight_bytes_sent_;
  pending_move_ =
      PendingMove{layout, text + ")",
                  std::async(std::launch::async,
                             [this, layout, before = layout_, preload = preload_ranges(layout)] {
                               return preship(layout, before, preload);
                             }),
                  now, shipped_from};
  return Status::ok();
}

}  // namespace ll::runtime
