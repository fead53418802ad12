// The head over ZeroMQ: connects to the workers, profiles devices and links, plans with the
// MILP planner, ships missing weights (content-addressed), deploys, then drives the ring. The
// head itself is device 0: it owns tokenization, the session and the embedding segment.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/model.h"
#include "net/endpoint.h"
#include "plan/planner.h"
#include "runtime/balance_policy.h"
#include "runtime/device_node.h"
#include "runtime/plan_bridge.h"
#include "runtime/replay_log.h"
#include "runtime/ring.h"
#include "runtime/ring_layout.h"
#include "runtime/throttle.h"

namespace ll::runtime {

struct HeadOptions {
  std::vector<std::string> workers;  // addresses, e.g. tcp://127.0.0.1:5555
  net::ClusterKey key;
  bool insecure = false;
  plan::Objective objective = plan::Objective::kLatency;
  int n_ctx = 512;
  int max_seqs = 1;
  // The mean context position the planner charges a decode row's attention at before any
  // sequence runs (e.g. prompt + n_predict / 2 for a known run); < 0: half of n_ctx. While
  // sequences run, the balancer uses their mean position.
  double attn_pos = -1;
  int threads = 1;
  double mem_budget_bytes = 0;  // head device; 0 = from the OS
  std::string cache_dir = ".lingualinked-cache";
  double added_latency_s = 0;
  double bandwidth_bytes_per_s = 0;
  double latency_p95_s = 0;  // jitter and loss of the emulated link (net/traffic_shaper.h)
  double loss_rate = 0;
  std::string
      name;  // default "head-<host>-<pid>": a ROUTER keeps a routing id until it notices the
             // old connection is gone, so a second run must not reuse the first one's name
  // Fixed cuts instead of planning (tests): one coarse segment per device, in worker order.
  std::vector<int> force_cuts;
  bool quiet = false;
  // Shown for the head in plans and statistics (a local cluster's spec name); default name.
  std::string display_name;
  // Which of the planner's assignments to deploy: "plan", or a baseline ("even", "memory").
  std::string placement = "plan";
  // Emulated speed of the head device (runtime/throttle.h).
  double speed = 1;
  std::vector<SpeedStep> speed_schedule;
  // Failover (docs/failover.md): a lost worker is replanned around and every live sequence is
  // replayed on the new layout. Off: a lost worker fails the requests in flight.
  bool failover = true;
  double failover_wait_s = 30;     // in-flight requests wait this long for capacity
  double heartbeat_timeout_s = 1;  // a link silent this long is lost (net::EndpointOptions)
  int replay_chunk = 128;          // rows per replayed prefill pass
  // Told of every change of the ring ("failover", "readmit", "degraded"), on the token loop's
  // thread; the server logs them as cluster events.
  std::function<void(const std::string& kind, const std::string& text)> on_event;
  // Runtime load balancing (docs/balance.md): move work off devices that became slow.
  bool rebalance = false;
  BalanceOptions balance;
  // A move keeps the devices whose op range does not change and carries the KV rows of the
  // moved layers to their new owner (docs/balance.md); off, or when that fails, every live
  // sequence is replayed on the new layout.
  bool kv_moves = true;
  // A worker without the model file gets, with its share, the boundary segments the
  // planner's overlap plan preloads on it (up to `preload_per_side` per side of each of its
  // boundaries, within its spare memory), so a move within them ships no weights.
  bool preload = true;
  int preload_per_side = 2;
  // Tests: the first KV_ROWS of each move names a layer its receiver does not run, which the
  // receiver refuses, so the move must fall back to replay.
  bool kv_fault_for_test = false;
  // Before a KV move's switch, while serving goes on, the rows already computed are copied to
  // their new owners; the switch then moves only the rows fed since (docs/balance.md).
  bool kv_precopy = true;
  // Tests: asked on the token loop's thread once a move's pre-copy is done; the switch waits
  // (serving goes on) until it returns true.
  std::function<bool()> before_switch_for_test;
};

class NetRing : public Ring, private Outbox {
 public:
  static Result<std::unique_ptr<NetRing>> create(const model::Model& m,
                                                 const std::string& model_path,
                                                 const HeadOptions& o);
  ~NetRing() override;

  Status submit(uint32_t step, const graph::Batch& batch) override;
  int n_ctx() const override { return o_.n_ctx; }
  RingHealth health() const override;
  void maintain() override;
  // Waits until no worker given at start is lost (each re-admitted after its link came back),
  // or fails at the deadline naming the missing ones. The token loop's thread only.
  Status wait_until_whole(double timeout_s);
  // Moves the live ring to `layout` at the next token wait (thread-safe; tests, operators):
  // in-flight sequences are replayed on it under a new epoch.
  void request_move(RingLayout layout, std::string why);

  // Deploys another layout on the same live workers under a new epoch: passes and tokens of
  // the old one are dropped everywhere. Call between generations (no sequence live).
  Status redeploy(const RingLayout& layout);
  const RingLayout& layout() const { return layout_; }
  // A layout over this ring's connected devices with the given cuts, one device per segment
  // in worker order (device 0 is the head).
  Result<RingLayout> layout_from_cuts(const std::vector<int>& cuts) const;

  int n_devices() const { return layout_.size(); }
  int live_devices() const override { return live_devices_.load(std::memory_order_relaxed); }
  // Ring order, head first: the devices' own names (workers without a unique one: address).
  std::vector<std::string> device_names() const;
  const nlohmann::json& plan_json() const { return plan_json_; }
  const std::string& plan_text() const { return plan_text_; }
  const std::string& plan_svg() const { return plan_svg_; }  // "" with forced cuts
  double predicted_tok_s() const { return predicted_tok_s_; }
  uint64_t weight_bytes_sent() const { return weight_bytes_sent_; }
  // Per-device busy seconds, forward passes and bytes, asked from every worker. Safe to call
  // from another thread while tokens flow: replies and tokens share one receive path.
  Result<nlohmann::json> device_stats();
  // > 0: device_stats() also gives each device's passes ("trace": [[start, end], ...] in
  // mono_now_s(), which is one clock for the devices of one machine) of the last `s` seconds.
  void set_stats_trace_s(double s) { trace_s_ = s; }
  double head_busy_s() const { return node_->busy_s(); }
  uint32_t epoch() const { return epoch_; }
  uint32_t session_id() const { return session_id_; }

 protected:
  Status send_seq_start(const SeqRecord& rec) override;
  Result<TokenEvent> wait_token(double timeout_s) override;
  Status send_seq_end(int32_t seq) override;

 private:
  NetRing(const model::Model& m, const HeadOptions& o)
      : m_(m), o_(o), throttle_(o.speed, o.speed_schedule), policy_(o.balance) {}
  std::string shown_name(int device) const;
  std::string shown_name_of(const std::string& routing) const;
  Status setup(const std::string& model_path);
  // The deploy steps, each callable again: connect -> profile -> plan -> deploy(layout, epoch).
  Status connect_workers();
  Result<plan::Cluster> profile();
  Result<RingLayout> plan(const plan::Cluster& cluster);
  // keep_tokens: a recovery keeps the tokens already received (they are not replayed).
  // keep_state (a move): devices whose op range stays keep their deployment, KV rows and
  // samplers; the others keep the KV rows of the layers they still run.
  Status deploy(const RingLayout& layout, uint32_t epoch, bool keep_tokens = false,
                bool keep_state = false);
  Status deploy_head_node(const graph::Segmentation& coarse, uint32_t epoch, bool keep_state);
  Result<RingLayout> plan_on(const plan::Cluster& cluster, const std::vector<int>& workers);
  Status ensure_model_profile();  // mp_ and fine_, once
  plan::RunConfig run_config() const;
  Result<RingLayout> layout_from_assignment(const std::vector<int>& device_of_segment,
                                            const std::vector<int>& workers) const;
  Result<nlohmann::json> collect_stats();
  // Failover (net_ring_failover.cpp): take the failures and comebacks the demultiplexer saw,
  // and replan, redeploy and replay when the ring lost or regained a device.
  Status watch_devices();
  Status recover(const std::string& why, bool loss);
  Result<RingLayout> plan_survivors();
  // The start-up profiles of the head and the workers not lost; workers[k] is device k + 1.
  plan::Cluster surviving_cluster(std::vector<int>* workers) const;
  Status replay_sequences(int* n_seqs, size_t* n_rows);
  // Tokens that arrived before a change of layout: their passes are answered and they are
  // delivered first; returns them by sequence (the sampler states resume after them).
  std::map<int32_t, std::vector<TokenEvent>> settle_tokens();
  // The table's live sequences with the settled tokens applied, slots for `n_devices`.
  std::vector<SeqRecord> live_records(int n_devices);
  void set_degraded(const std::string& why);
  void publish_health();
  // Every worker runs on this machine (loopback/ipc addresses): an emulated cluster.
  bool all_workers_local() const;
  std::atomic<double> trace_s_{0};
  // Load balancing (net_ring_balance.cpp).
  Status balance_tick();
  struct PreCopy;
  // `shipped_from`: weight_bytes_sent() when its preparation began; `pre`: its pre-copy.
  Status move_to(const RingLayout& layout, const std::string& why, double preship_s,
                 uint64_t shipped_from, std::optional<PreCopy> pre);
  // Ships the weights `layout` needs and has every worker whose op range changes (from
  // `before`) build its deployment in the background (DEPLOY "prepare"), so the switch only
  // installs it. Runs on its own thread.
  // `preload` is preload_ranges(layout), computed on the token loop's thread.
  Status preship(const RingLayout& layout, const RingLayout& before,
                 const std::vector<OpRange>& preload);
  nlohmann::json deploy_json(const RingLayout& layout, int device,
                             const nlohmann::json& weights) const;
  // A move without replay (net_ring_kv_move.cpp): waits for the passes in flight, takes the
  // moved layers' KV rows from their old owners, deploys keeping what stays, hands the rows
  // to the new owners and restarts the samplers. Any error: the caller replays instead.
  Status move_kv(const RingLayout& layout, MoveRecord* rec, std::optional<PreCopy> pre);
  Status drain(double timeout_s);
  struct KvTransfer {
    std::string to;  // routing name of the new owner
    int32_t seq = 0;
    int kv_slot = -1;
    graph::KvRows rows;
  };
  struct KvAsk {
    uint32_t req = 0;
    std::string peer;  // the old owner
    size_t index = 0;  // its transfer
  };
  // A run of consecutive attention layers with the same old and new owner (ring indices),
  // where the owner changes.
  struct KvRun {
    int from_dev = 0, to_dev = 0, layer_begin = 0, layer_end = 0;
  };
  Result<std::vector<KvRun>> moved_runs(const RingLayout& from, const RingLayout& to) const;
  // A move's pre-copy (net_ring_kv_move.cpp): before the switch, while serving goes on, the
  // rows of the positions every device has computed go to their new owners, one piece at a
  // time, driven from the token loop (advance_precopy at every token wait).
  struct PreCopy {
    RingLayout from, to;
    uint32_t epoch = 0;
    std::vector<KvRun> runs;
    struct Item {
      int run = 0;
      int32_t seq = 0;
      int kv_slot = -1;
      int n_pre = 0;   // positions to pre-copy: [0, n_pre)
      int placed = 0;  // positions [0, placed) are at the new owner
      bool failed = false, busy = false;
    };
    std::vector<Item> items;
    struct Op {
      size_t item = 0;
      int pos_begin = 0, pos_end = 0;
      bool staging = false;  // false: KV_EXPORT to the old owner; true: KV_ROWS to the new one
      std::string peer;
      uint32_t req = 0;
      size_t bytes = 0;
    };
    std::vector<Op> ops;
    std::vector<KvTransfer> local;  // pieces whose new owner is the head, imported at the switch
    double started_s = 0, done_s = -1;
    size_t bytes = 0;
    size_t next = 0;  // round robin over the items
    bool done() const { return done_s >= 0; }
  };
  Result<PreCopy> start_precopy(const RingLayout& layout);
  // Takes the replies that arrived and sends the next pieces; never waits.
  void advance_precopy(PreCopy& p);
  Status precopy_launch(PreCopy& p, size_t item);
  // A reply to one of the pre-copy's requests, if it has arrived (an ERROR answers too).
  std::optional<net::Received> take_reply(const std::string& peer, uint32_t req);
  // The head's own moved rows are copied into `out` now; the workers' are asked for (their
  // transfers in `out` get the rows from collect_moved_kv). A sequence the pre-copy placed
  // positions [0, n) of moves only the rows from n.
  Status ask_moved_kv(const RingLayout& from, const RingLayout& to,
                      const std::vector<SeqRecord>& live, const PreCopy* pre,
                      std::vector<KvTransfer>* out, std::vector<KvAsk>* asked, MoveRecord* rec);
  Status collect_moved_kv(const std::vector<KvAsk>& asked, std::vector<KvTransfer>* out);
  Status import_moved_kv(std::vector<KvTransfer> transfers);
  // Ring index of the device of `layout` that runs op `node`.
  static int owner_of(const RingLayout& layout, int node);
  void ask_stats();
  bool take_stats_reply(const net::Received& r);
  void update_speeds(const plan::CostModel& cost, const plan::Evaluation& predicted,
                     const std::vector<int>& workers, int n_seqs);
  std::string layers_of(const RingDevice& d) const;
  std::string describe_move(const RingLayout& from, const RingLayout& to) const;
  // Weights (net_ring_weights.cpp). The DEPLOY "weights" of `layout`'s device `device`: the
  // worker's own model file, a share it holds that covers its ops, or a new share of the ops
  // `preload` (its ops and its preloaded neighbours'), shipped now.
  Result<nlohmann::json> weights_for(const RingLayout& layout, int device, OpRange preload);
  // Per device of `layout`, its op range widened by the overlap plan (net_ring_weights.cpp).
  // The token loop's thread only.
  std::vector<OpRange> preload_ranges(const RingLayout& layout);
  // The layout as an assignment of fine segments to the cluster of `workers` (cluster device
  // d > 0 is worker workers[d - 1]); empty when a device's range splits a fine segment.
  std::vector<int> assignment_of(const RingLayout& layout, const std::vector<int>& workers) const;
  Result<std::string> write_share(OpRange ops);
  void forget_held(const std::string& worker);       // its cache can no longer be trusted
  bool owns_model(const std::string& worker) const;  // it has the same model file
  void say(const std::string& s) const;              // progress, unless quiet
  void warn(const std::string& s) const;             // always: to stderr, or to the log when quiet
  // Stamps the session and the epoch; every message to a worker goes through here.
  Status send_to(const std::string& peer, net::Message m);
  // The receive demultiplexer: whoever waits takes its turn at the endpoint and routes what
  // arrives (tokens, failures, replies by peer, type and request id) to its waiter.
  template <typename Ready>
  bool await(Ready ready, double timeout_s);
  void route(net::Received r);
  Result<net::Received> wait_reply(const std::string& peer, net::MsgType type, uint32_t req,
                                   double timeout_s);
  Result<net::Received> request(const std::string& peer, net::Message m, net::MsgType reply,
                                double timeout_s);
  // Safe from another thread than the token loop's (a move's weights go ahead of it).
  Status ship_weights(const std::string& peer, const std::string& path, const std::string& key);
  Status send_tensors(int to, uint32_t step, const graph::Batch& batch,
                      std::vector<std::pair<int, std::vector<float>>> tensors) override;
  Status send_token(int32_t seq, uint32_t step, int32_t token, uint64_t rng_state) override;
  Status send_scores(int32_t seq, uint32_t step, std::vector<double> log_probs) override;

  const model::Model& m_;
  HeadOptions o_;
  std::unique_ptr<net::Endpoint> ep_;
  std::string model_path_, model_hash_;
  std::vector<std::string> wnames_;        // connected workers, in option order
  std::vector<nlohmann::json> wprofiles_;  // their PROFILE_RESPs
  RingLayout layout_;
  std::vector<std::string> wshown_;  // the workers' own names, for plans and stats
  std::unique_ptr<DeviceNode> node_;
  plan::Cluster cluster_all_;  // the head, then every worker in option order (profiles, links)
  std::optional<plan::ModelProfile> mp_;  // the planner's view of the model, over fine_
  graph::Segmentation fine_;
  uint32_t session_id_ = 0;
  uint32_t epoch_ = 0;
  // Request ids start above every sequence id: a worker's ERROR about a sequence carries the
  // sequence's id, and must never be taken for the answer to a request (a KV pre-copy piece).
  std::atomic<uint32_t> next_request_{0x80000000u};
  bool serving_ = false;  // deployed: a worker's ERROR fails the token loop
  nlohmann::json plan_json_;
  std::string plan_text_;
  std::string plan_svg_;
  double predicted_tok_s_ = 0;
  std::atomic<uint64_t> weight_bytes_sent_{0};
  std::atomic<int> live_devices_{0};  // layout_.size(), for other threads (live_devices())
  nlohmann::json stats_base_;
  Throttle throttle_;
  std::map<std::string, std::string> shown_;  // routing name -> the name people know
  std::mutex rx_mu_;
  std::condition_variable rx_cv_;
  bool receiving_ = false;  // a waiter is inside ep_->recv
  std::deque<TokenEvent> tokens_;
  std::deque<TokenEvent> ready_;  // received before a recovery, pass numbers already resolved
  struct Failure {
    std::string peer;  // empty: the endpoint itself failed
    Status status;
  };
  std::deque<Failure> failures_;
  std::set<std::string> back_;    // lost workers whose link zmq reconnected
  std::string last_failed_peer_;  // the peer of the last failed wait_reply
  // Failover state: the token loop's thread writes it; health() reads under health_mu_.
  ReplayLog replay_;
  std::set<std::string> lost_;
  double degraded_since_ = -1;
  mutable std::mutex health_mu_;
  RingState state_ = RingState::kServing;
  std::string state_why_;
  uint64_t failovers_ = 0;
  std::vector<double> failover_s_;
  std::vector<FailoverRecord> failover_log_;
  std::vector<DeviceHealth> health_devices_;
  RingState announced_state_ = RingState::kServing;  // as publish_health last saw it
  std::mutex deploy_mu_;
  // Load balancing state, on the token loop's thread (live_stats_, stats_reqs_: rx_mu_).
  struct LiveStat {
    uint32_t epoch = 0;
    double busy_s = 0, steps = 0;
    double rows = 0;  // batch rows over the steps; 0 from a worker that does not say
  };
  BalancePolicy policy_;
  std::mutex move_mu_;
  std::optional<std::pair<RingLayout, std::string>> forced_move_;
  double next_tick_s_ = 0;
  std::map<uint32_t, uint32_t> stats_reqs_;  // request id -> epoch it was sent in
  std::map<std::string, LiveStat> live_stats_, last_stats_;
  std::map<std::string, double> slowdown_;  // measured / predicted time per pass
  // Per device with a small share: the epoch and the EWMA of its ratio in that epoch.
  std::map<std::string, std::pair<uint32_t, double>> small_share_ratio_;
  uint64_t moves_ = 0;
  std::vector<MoveRecord> move_log_;
  // A decided move whose weights are shipped in the background; it switches once they are in
  // place. Declared after ep_, so it is destroyed (and its thread joined) first.
  struct PendingMove {
    RingLayout layout;
    std::string why;
    std::future<Status> shipped;
    double decided_s = 0;
    uint64_t shipped_from = 0;       // weight_bytes_sent_ then
    double shipped_s = 0;            // from the decision until the weights were in place
    std::optional<PreCopy> precopy;  // started once the weights are in place
  };
  // Per worker without the model file, the shares of the model in its cache, in the order
  // they were shipped (written by the shipping thread of a move, too).
  struct HeldShare {
    OpRange ops;
    std::string key;
  };
  std::mutex held_mu_;
  std::map<std::string, std::vector<HeldShare>> held_;
  // Timings of the last deploy() (a move's record), and the move awaiting its first token.
  std::vector<std::pair<std::string, double>> deploy_rtt_s_;
  double deploy_stats_s_ = 0;
  bool await_first_token_ = false;
  double moved_at_s_ = 0;
  std::optional<PendingMove>
      pending_move_;  // held while the layout changes; device_stats() does not wait
  std::deque<net::Received> replies_;  // arrived, not yet taken by their waiter
  // KV_EXPORT / KV_ROWS request ids of a move: an ERROR answering one is its reply (the move
  // falls back to replay), not a failure of the device. Guarded by rx_mu_.
  std::set<uint32_t> kv_reqs_;
  // Request ids of pre-copy pieces given up on: their late answers are dropped (rx_mu_).
  std::set<uint32_t> abandoned_reqs_;
  double deploy_send_s_ = 0, deploy_head_s_ = 0;
  int deploy_kept_ = 0, deploy_prepared_ = 0;  // workers of the last deploy
};

}  // namespace ll::runtime
