#include "runtime/net_ring.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <set>

#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "gguf/gguf_writer.h"
#include "net/payload.h"
#include "plan/plan_json.h"
#include "plan/profile_json.h"
#include "plan/render.h"
#include "runtime/profiler.h"
#include "runtime/wire.h"
#include "runtime/worker.h"

namespace ll::runtime {

namespace fs = std::filesystem;

namespace {}  // namespace

NetRing::~NetRing() {
  if (ep_) ep_->close();
}

Result<std::unique_ptr<NetRing>> NetRing::create(const model::Model& m,
                                                 const std::string& model_path,
                                                 const HeadOptions& o) {
  if (o.workers.empty()) return invalid_argument("no workers given");
  std::unique_ptr<NetRing> r(new NetRing(m, o));
  if (r->o_.name.empty()) {
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    r->o_.name = "head-" + std::string(host) + "-" + std::to_string(getpid());
  }
  // Tells this head's messages from a previous head's that a worker may still deliver.
  std::random_device rd;
  do r->session_id_ = rd();
  while (r->session_id_ == 0);
  LL_RETURN_IF_ERROR(r->setup(model_path));
  return r;
}

std::string NetRing::shown_name(int device) const {
  const std::string& name = layout_.devices[device].name;
  for (size_t w = 0; w < wnames_.size(); ++w) {
    if (wnames_[w] == name && w < wshown_.size()) return wshown_[w];
  }
  return name;
}

std::string NetRing::shown_name_of(const std::string& routing) const {
  auto it = shown_.find(routing);
  if (it != shown_.end()) return it->second;
  for (size_t w = 0; w < wnames_.size() && w < wshown_.size(); ++w) {
    if (wnames_[w] == routing) return wshown_[w];
  }
  return routing;
}

std::vector<std::string> NetRing::device_names() const {
  std::vector<std::string> out;
  for (int i = 0; i < layout_.size(); ++i) out.push_back(shown_name(i));
  return out;
}

Status NetRing::send_to(const std::string& peer, net::Message m) {
  m.session_id = session_id_;
  m.epoch = epoch_;
  return ep_->send(net::PeerId::outgoing(peer), std::move(m));
}

template <typename Ready>
bool NetRing::await(Ready ready, double timeout_s) {
  Deadline deadline(&clock(), timeout_s);
  std::unique_lock<std::mutex> lock(rx_mu_);
  while (!ready()) {
    if (deadline.expired()) return false;
    if (receiving_) {
      rx_cv_.wait_for(lock, std::chrono::duration<double>(deadline.left_s()));
      continue;
    }
    receiving_ = true;
    lock.unlock();
    auto r = ep_->recv(deadline.left_s());
    lock.lock();
    receiving_ = false;
    if (r.is_ok()) {
      route(std::move(*r));
    } else if (r.status().code() != StatusCode::kUnavailable) {
      failures_.push_back({"", r.status()});
    }
    rx_cv_.notify_all();
  }
  return true;
}

// Called with rx_mu_ held.
void NetRing::route(net::Received r) {
  const net::MsgType type = r.msg.type();
  const bool local = r.msg.flags & net::kFlagLocal;
  if (type == net::MsgType::kHello) {
    if (local) back_.insert(r.from.name);  // a lost link that zmq reconnected
    return;
  }
  if (const net::Error* e = r.msg.as<net::Error>(); e && local) {
    // A lost link (closed, or silent past the heartbeat timeout) or an undeliverable message:
    // every waiter hears of it, and the failover names the device.
    // Not kUnavailable, which the token loops read as "no token yet".
    failures_.push_back({r.from.name, internal_error("device " + shown_name_of(r.from.name) +
                                                     " lost: " + e->text)});
    return;
  }
  if (const net::Token* t = r.msg.as<net::Token>()) {
    if (r.msg.epoch != epoch_) {
      LL_LOG_INFO("head: dropped a token of stale epoch %u from %s (epoch %u)", r.msg.epoch,
                  r.from.name.c_str(), epoch_);
      return;
    }
    tokens_.push_back(
        TokenEvent{static_cast<int32_t>(r.msg.seq_id), r.msg.step, t->token_id, t->rng_state});
    return;
  }
  if (is_scores(r.msg)) {  // a scoring pass's answer: routed as its token would be
    auto lp = read_scores(r.msg);
    if (!lp.is_ok()) {
      const std::string who = shown_name_of(r.from.name);
      failures_.push_back({r.from.name, internal_error("device " + who + " sent bad scores: " +
                                                       lp.status().message())});
    } else if (r.msg.epoch != epoch_) {
      LL_LOG_INFO("head: dropped scores of stale epoch %u from %s (epoch %u)", r.msg.epoch,
                  r.from.name.c_str(), epoch_);
    } else {
      tokens_.push_back(
          scores_event(static_cast<int32_t>(r.msg.seq_id), r.msg.step, std::move(*lp)));
    }
    return;
  }
  if ((type == net::MsgType::kError || type == net::MsgType::kKvRows ||
       type == net::MsgType::kKvAck) &&
      abandoned_reqs_.erase(r.msg.seq_id) > 0) {
    return;  // the answer to a pre-copy piece given up on
  }
  if (type == net::MsgType::kError && kv_reqs_.count(r.msg.seq_id)) {
    replies_.push_back(std::move(r));  // a refused KV request: the move replays instead
    return;
  }
  if (const net::Error* e = r.msg.as<net::Error>(); e && serving_) {
    if (r.msg.epoch != epoch_) {
      LL_LOG_INFO("head: ignored an error of stale epoch %u from %s: %s", r.msg.epoch,
                  r.from.name.c_str(), e->text.c_str());
      return;
    }
    failures_.push_back({r.from.name, internal_error("device " + shown_name_of(r.from.name) +
                                                     " failed: " + e->text)});
    return;
  }
  if (take_stats_reply(r)) return;
  // Replies nobody waits for any more (a timed-out request) must not pile up.
  if (replies_.size() >= 1024) replies_.pop_front();
  replies_.push_back(std::move(r));
}

Result<net::Received> NetRing::wait_reply(const std::string& peer, net::MsgType type, uint32_t req,
                                          double timeout_s) {
  std::optional<net::Received> got;
  auto ready = [&] {
    for (auto it = replies_.begin(); it != replies_.end(); ++it) {
      if (it->from.name != peer) continue;
      const bool error = it->msg.type() == net::MsgType::kError;
      if ((it->msg.type() == type && it->msg.seq_id == req) || error) {
        got = std::move(*it);
        replies_.erase(it);
        return true;
      }
    }
    // A receive failure (the endpoint closed) or, while serving, a device's failure ends
    // every wait at once; it stays queued for the token loop.
    return !failures_.empty();
  };
  if (!await(ready, timeout_s)) {
    std::lock_guard<std::mutex> lock(rx_mu_);
    last_failed_peer_ = peer;
    return unavailable("device " + peer + " did not answer within " +
                       std::to_string(static_cast<int>(timeout_s)) + " s (waiting for " +
                       net::msg_type_name(type) + ")");
  }
  if (!got) {
    std::lock_guard<std::mutex> lock(rx_mu_);
    last_failed_peer_ = failures_.front().peer;
    return failures_.front().status;
  }
  if (const net::Error* e = got->msg.as<net::Error>()) {
    std::lock_guard<std::mutex> lock(rx_mu_);
    last_failed_peer_ = peer;
    return unavailable("device " + peer + " refused: " + e->text);
  }
  return std::move(*got);
}

Result<net::Received> NetRing::request(const std::string& peer, net::Message m, net::MsgType reply,
                                       double timeout_s) {
  const uint32_t req = next_request_.fetch_add(1);
  m.seq_id = req;
  LL_RETURN_IF_ERROR(send_to(peer, std::move(m)));
  return wait_reply(peer, reply, req, timeout_s);
}

void NetRing::say(const std::string& s) const {
  if (!o_.quiet) std::fprintf(stderr, "%s\n", s.c_str());
}

void NetRing::warn(const std::string& s) const {
  if (o_.quiet) {
    LL_LOG_WARN("head: %s", s.c_str());
  } else {
    std::fprintf(stderr, "%s\n", s.c_str());
  }
}

Status NetRing::setup(const std::string& model_path) {
  model_path_ = model_path;
  LL_ASSIGN_OR_RETURN(model_hash_, file_content_hash(model_path, o_.cache_dir));
  LL_RETURN_IF_ERROR(connect_workers());
  LL_ASSIGN_OR_RETURN(plan::Cluster cluster, profile());
  cluster_all_ = cluster;
  std::vector<int> all(wnames_.size());
  for (size_t w = 0; w < all.size(); ++w) all[w] = static_cast<int>(w);
  LL_ASSIGN_OR_RETURN(RingLayout layout, plan_on(cluster, all));
  say("plan: " + std::to_string(layout.size()) + " devices in the ring");
  return deploy(layout, 1);
}

Status NetRing::connect_workers() {
  net::EndpointOptions eo;
  eo.node_name = o_.name;
  eo.role = net::Role::kHead;
  eo.insecure = o_.insecure;
  eo.cluster_key = o_.key;
  eo.added_latency_s = o_.added_latency_s;
  eo.bandwidth_bytes_per_s = o_.bandwidth_bytes_per_s;
  eo.latency_p95_s = o_.latency_p95_s;
  eo.loss_rate = o_.loss_rate;
  eo.heartbeat_timeout_s = o_.heartbeat_timeout_s;
  LL_ASSIGN_OR_RETURN(ep_, net::Endpoint::create(eo));
  wnames_.clear();
  for (const std::string& addr : o_.workers) {
    // Workers are named by address: unique, and the same in every run and on every device.
    auto c = ep_->connect(addr, addr);
    if (!c.is_ok()) return unavailable("cannot reach worker " + addr + ": " + c.status().message());
    wnames_.push_back(addr);
  }
  return Status::ok();
}

bool NetRing::all_workers_local() const {
  for (std::string w : wnames_) {
    if (w.rfind("ipc://", 0) == 0 || w.rfind("inproc://", 0) == 0) continue;
    if (w.rfind("tcp://", 0) == 0) w = w.substr(6);
    if (w.rfind("127.", 0) != 0 && w.rfind("localhost:", 0) != 0 && w.rfind("[::1]:", 0) != 0)
      return false;
  }
  return true;
}

// The head measures itself; each worker measures itself and its links to the others.
Result<plan::Cluster> NetRing::profile() {
  const int n_workers = static_cast<int>(wnames_.size());
  say("profiling " + std::to_string(n_workers + 1) + " devices and their links...");
  // Only the model's weight types are measured (each one costs a fraction of a second).
  std::set<DType> types;
  for (const graph::Node& node : m_.graph.nodes) {
    for (const std::string& w : node.weights) {
      if (const graph::WeightView* v = m_.weights->find(w)) types.insert(v->type);
    }
  }
  nlohmann::json type_names = nlohmann::json::array();
  for (DType t : types) type_names.push_back(std::string(dtype_name(t)));
  auto ask = [&](int i, uint32_t* req_id) -> Status {
    nlohmann::json req;
    req["types"] = type_names;
    req["probe"] = nlohmann::json::array();
    for (int k = 0; k < n_workers; ++k) {
      if (k != i) req["probe"].push_back({{"name", wnames_[k]}, {"address", wnames_[k]}});
    }
    net::Message m;
    m.seq_id = *req_id = next_request_.fetch_add(1);
    m.body = net::ProfileReq{req.dump()};
    return send_to(wnames_[i], std::move(m));
  };
  wprofiles_.assign(n_workers, nlohmann::json());
  auto collect = [&](int i, uint32_t req_id) -> Status {
    LL_ASSIGN_OR_RETURN(net::Received r,
                        wait_reply(wnames_[i], net::MsgType::kProfileResp, req_id, 120));
    wprofiles_[i] = nlohmann::json::parse(r.msg.as<net::ProfileResp>()->json, nullptr, false);
    if (wprofiles_[i].is_discarded())
      return corrupt("worker " + wnames_[i] + " sent a malformed profile");
    return Status::ok();
  };
  // Devices on other machines measure at once. Workers on this machine (an emulated cluster)
  // measure one at a time after the head: measured together they share the cores and the
  // memory bus, and each one's rate came out 2-4x low and different from run to run.
  const bool one_at_a_time = all_workers_local();
  std::vector<uint32_t> reqs(n_workers);
  if (!one_at_a_time) {
    for (int i = 0; i < n_workers; ++i) LL_RETURN_IF_ERROR(ask(i, &reqs[i]));
  }
  ProfileOptions hpo;
  hpo.threads = o_.threads;
  hpo.mem_budget_bytes = o_.mem_budget_bytes;
  hpo.cache_dir = o_.cache_dir;
  hpo.throttle = &throttle_;
  hpo.types.assign(types.begin(), types.end());
  const std::string head_shown = o_.display_name.empty() ? o_.name : o_.display_name;
  shown_[o_.name] = head_shown;
  LL_ASSIGN_OR_RETURN(plan::DeviceProfile head_prof, profile_device(head_shown, hpo));
  for (int i = 0; i < n_workers; ++i) {
    if (one_at_a_time) LL_RETURN_IF_ERROR(ask(i, &reqs[i]));
    LL_RETURN_IF_ERROR(collect(i, reqs[i]));
  }
  plan::Cluster cluster;
  head_prof.head = true;
  cluster.devices.push_back(head_prof);
  // Plans and stats show each worker's own name; routing keeps using addresses. A name that is
  // missing or not unique falls back to the address.
  std::vector<std::string>& shown = wshown_;
  shown.assign(n_workers, std::string());
  for (int i = 0; i < n_workers; ++i) shown[i] = wprofiles_[i].value("name", "");
  for (int i = 0; i < n_workers; ++i) {
    if (shown[i].empty() || shown[i] == o_.name ||
        std::count(shown.begin(), shown.end(), shown[i]) > 1)
      shown[i] = wnames_[i];
  }
  for (int i = 0; i < n_workers; ++i) {
    LL_ASSIGN_OR_RETURN(plan::DeviceProfile p, plan::device_profile_from_json(
                                                   wprofiles_[i].value("device", nlohmann::json()),
                                                   "profile of worker " + wnames_[i]));
    p.name = shown[i];
    cluster.devices.push_back(std::move(p));
  }
  cluster.links.assign(n_workers + 1, std::vector<plan::LinkProfile>(n_workers + 1));
  for (int i = 0; i < n_workers; ++i) {
    LL_ASSIGN_OR_RETURN(net::LinkProbe lp, ep_->probe_link(net::PeerId::outgoing(wnames_[i])));
    plan::LinkProfile l{lp.rtt_median_s / 2, lp.rtt_p95_s / 2, lp.bandwidth_bytes_per_s};
    cluster.links[0][i + 1] = cluster.links[i + 1][0] = l;
    const nlohmann::json& links = wprofiles_[i].value("links", nlohmann::json::object());
    for (int k = 0; k < n_workers; ++k) {
      if (!links.contains(wnames_[k])) continue;
      const auto& lj = links[wnames_[k]];
      cluster.links[i + 1][k + 1] =
          plan::LinkProfile{lj.value("rtt_median_s", 0.0) / 2, lj.value("rtt_p95_s", 0.0) / 2,
                            lj.value("bandwidth_bytes_per_s", 1e9)};
    }
  }
  return cluster;
}

Result<RingLayout> NetRing::layout_from_cuts(const std::vector<int>& cuts) const {
  LL_ASSIGN_OR_RETURN(graph::Segmentation coarse, graph::segment_at(m_.graph, cuts));
  if (coarse.size() > static_cast<int>(wnames_.size()) + 1)
    return invalid_argument("more segments (" + std::to_string(coarse.size()) + ") than devices (" +
                            std::to_string(wnames_.size() + 1) + ")");
  RingLayout l;
  for (int i = 0; i < coarse.size(); ++i) {
    const std::string name = i == 0 ? o_.name : wnames_[i - 1];
    l.devices.push_back({name, i == 0 ? std::string() : name, coarse.begin(i), coarse.end(i)});
  }
  return l;
}

// Plans over the default segments, then merges each device's run into one coarse segment.
// Cluster device d > 0 is worker workers[d - 1].
Result<RingLayout> NetRing::plan_on(const plan::Cluster& cluster, const std::vector<int>& workers) {
  if (!o_.force_cuts.empty() && workers.size() == wnames_.size())
    return layout_from_cuts(o_.force_cuts);
  LL_RETURN_IF_ERROR(ensure_model_profile());
  plan::PlanOptions po;
  po.objective = o_.objective;
  LL_ASSIGN_OR_RETURN(plan::PlanReport rep, plan::make_plan(*mp_, cluster, run_config(), po));
  plan_json_ = plan::plan_report_to_json(rep);
  plan_text_ = plan::render_text(rep);
  plan_svg_ = plan::render_svg(rep);
  const plan::PlanSummary* chosen = &rep.plan;  // or a baseline, to measure it
  for (const plan::PlanSummary& b : rep.baselines) chosen = b.name == o_.placement ? &b : chosen;
  if (chosen->name != o_.placement)
    return invalid_argument("placement must be plan, even or memory, not " + o_.placement);
  predicted_tok_s_ = o_.objective == plan::Objective::kLatency ? chosen->single_stream_tok_s
                                                               : chosen->pipelined_tok_s;
  return layout_from_assignment(chosen->device_of_segment, workers);
}

Status NetRing::ensure_model_profile() {
  if (mp_) return Status::ok();
  const graph::Graph& g = m_.graph;
  LL_ASSIGN_OR_RETURN(fine_, graph::segment_default(g, 0));
  LL_ASSIGN_OR_RETURN(graph::GraphCosts costs, graph::compute_costs(g, fine_, *m_.weights));
  mp_ =
      model_profile(fs::path(model_path_).stem().string(), g, fine_, costs, *m_.weights, o_.n_ctx);
  return Status::ok();
}

plan::RunConfig NetRing::run_config() const {
  plan::RunConfig run;
  run.ctx = o_.n_ctx;
  run.n_seqs = o_.max_seqs;
  run.attn_pos = o_.attn_pos;
  // A pass's attention reads each row's KV cache up to its position, so a device's time per
  // pass grows as the live sequences get longer: the balancer judges at their mean position.
  if (const auto mean = sequences().mean_position()) run.attn_pos = *mean;
  return run;
}

// Cluster device d > 0 is worker workers[d - 1]; the fine segments' devices become coarse ones.
Result<RingLayout> NetRing::layout_from_assignment(const std::vector<int>& device_of_segment,
                                                   const std::vector<int>& workers) const {
  LL_ASSIGN_OR_RETURN(DevicePlacement placement,
                      placement_from_plan(m_.graph, fine_, device_of_segment));
  if (placement.devices[0] != 0) return internal_error("the plan does not start on the head");
  RingLayout l;
  for (int i = 0; i < placement.coarse.size(); ++i) {
    const int d = placement.devices[i];
    const std::string name = d == 0 ? o_.name : wnames_[workers[d - 1]];
    l.devices.push_back(
        {name, d == 0 ? std::string() : name, placement.coarse.begin(i), placement.coarse.end(i)});
  }
  return l;
}

nlohmann::json NetRing::deploy_json(const RingLayout& layout, int device,
                                    const nlohmann::json& weights) const {
  nlohmann::json devices = nlohmann::json::array();
  for (const RingDevice& d : layout.devices)
    devices.push_back({{"name", d.name}, {"address", d.address}});
  return {{"me", device},          {"head", o_.name},          {"devices", devices},
          {"cuts", layout.cuts()}, {"n_ctx", o_.n_ctx},        {"max_seqs", o_.max_seqs},
          {"weights", weights},    {"model_hash", model_hash_}};
}

Status NetRing::deploy_head_node(const graph::Segmentation& coarse, uint32_t epoch,
                                 bool keep_state) {
  std::unique_ptr<DeviceNode> old = std::move(node_);
  if (keep_state && old && old->node_begin() == coarse.begin(0) &&
      old->node_end() == coarse.end(0) && old->relayout(coarse, 0).is_ok()) {
    node_ = std::move(old);
  } else {
    LL_ASSIGN_OR_RETURN(node_, DeviceNode::create(m_.graph, coarse, 0, *m_.weights, o_.n_ctx,
                                                  o_.max_seqs, o_.threads));
    if (keep_state && old) LL_RETURN_IF_ERROR(node_->adopt(*old));
  }
  node_->set_epoch(epoch);
  if (keep_state) {
    std::vector<int32_t> live;
    for (const SeqRecord& rec : sequences().live()) live.push_back(rec.id);
    node_->retain(live);
  }
  return Status::ok();
}

Status NetRing::deploy(const RingLayout& layout, uint32_t epoch, bool keep_tokens,
                       bool keep_state) {
  if (layout.size() < 1 || layout.devices[0].name != o_.name)
    return invalid_argument("a ring layout must start on the head");
  LL_ASSIGN_OR_RETURN(graph::Segmentation coarse, graph::segment_at(m_.graph, layout.cuts()));
  if (coarse.size() != layout.size() ||
      coarse.end(coarse.size() - 1) != layout.devices.back().node_end)
    return invalid_argument("the ring layout's op ranges do not tile the graph");
  {
    std::lock_guard<std::mutex> lock(rx_mu_);
    serving_ = false;
    epoch_ = epoch;
    if (!keep_tokens) tokens_.clear(), ready_.clear();
    failures_.clear();
  }
  layout_ = layout;
  live_devices_.store(layout.size(), std::memory_order_relaxed);
  nlohmann::json live = nlohmann::json::array();
  if (keep_state) {
    for (const SeqRecord& rec : sequences().live()) live.push_back(rec.id);
  }
  const double send_from = clock().now_s();
  std::vector<uint32_t> reqs(layout.size());
  const std::vector<OpRange> preload = preload_ranges(layout);
  for (int i = 1; i < layout.size(); ++i) {
    LL_ASSIGN_OR_RETURN(nlohmann::json weights, weights_for(layout, i, preload[i]));
    nlohmann::json dj = deploy_json(layout, i, weights);
    if (keep_state) dj["keep"] = true, dj["live"] = live;
    net::Message m;
    m.seq_id = reqs[i] = next_request_.fetch_add(1);
    m.body = net::Deploy{dj.dump(), {}};
    LL_RETURN_IF_ERROR(send_to(layout.devices[i].name, std::move(m)));
  }
  deploy_rtt_s_.clear();
  deploy_kept_ = deploy_prepared_ = 0;
  const double sent_s = clock().now_s();
  deploy_send_s_ = sent_s - send_from;
  for (int i = 1; i < layout.size(); ++i) {
    auto ack = wait_reply(layout.devices[i].name, net::MsgType::kDeployAck, reqs[i], 120);
    if (!ack.is_ok()) return ack.status();
    auto aj = nlohmann::json::parse(ack->msg.as<net::DeployAck>()->json, nullptr, false);
    if (aj.is_object()) {
      deploy_kept_ += aj.value("kept", false);
      deploy_prepared_ += aj.value("prepared", false);
    }
    // Acks are taken in ring order, so a fast device's figure may include a slower one's wait.
    deploy_rtt_s_.emplace_back(shown_name(i), clock().now_s() - sent_s);
  }
  const double head_from = clock().now_s();
  LL_RETURN_IF_ERROR(deploy_head_node(coarse, epoch, keep_state));
  deploy_head_s_ = clock().now_s() - head_from;
  table().configure(o_.max_seqs, layout.size());
  stats_base_ = nlohmann::json();
  // Traffic and busy time are reported per run: deployment and earlier runs are subtracted.
  const double stats_from = clock().now_s();
  LL_ASSIGN_OR_RETURN(stats_base_, collect_stats());
  deploy_stats_s_ = clock().now_s() - stats_from;
  publish_health();
  std::lock_guard<std::mutex> lock(rx_mu_);
  serving_ = true;
  return Status::ok();
}

Status NetRing::redeploy(const RingLayout& layout) {
  if (sequences().size() > 0)
    return invalid_argument("cannot redeploy while " + std::to_string(sequences().size()) +
                            " sequences are live");
  return deploy(layout, epoch_ + 1);
}

Status NetRing::send_seq_start(const SeqRecord& rec) {
  LL_RETURN_IF_ERROR(node_->start_sequence(seq_start_info(rec, 0)));
  if (node_->is_tail()) return Status::ok();
  // To the next device, which passes it on toward the tail (see the worker's on_seq_start).
  return send_to(layout_.devices[1].name, make_seq_start(seq_start_info(rec, 1)));
}

Status NetRing::submit(uint32_t step, const graph::Batch& batch) {
  replay_.on_submit(step, batch);
  node_->submit(step, batch);
  ThrottledOutbox out(this, node_.get(), &throttle_);  // an emulated slower head device
  return node_->run_ready(&out);
}

Status NetRing::send_tensors(int to, uint32_t step, const graph::Batch& batch,
                             std::vector<std::pair<int, std::vector<float>>> tensors) {
  return send_to(layout_.devices[to].name, make_step(step, m_.graph, batch, std::move(tensors)));
}

Status NetRing::send_token(int32_t seq, uint32_t step, int32_t token, uint64_t rng_state) {
  std::lock_guard<std::mutex> lock(rx_mu_);
  tokens_.push_back(TokenEvent{seq, step, token, rng_state});
  return Status::ok();
}

Status NetRing::send_scores(int32_t seq, uint32_t step, std::vector<double> log_probs) {
  std::lock_guard<std::mutex> lock(rx_mu_);
  tokens_.push_back(scores_event(seq, step, std::move(log_probs)));
  return Status::ok();
}

Result<TokenEvent> NetRing::wait_token(double timeout_s) {
  Deadline deadline(&clock(), timeout_s);
  while (true) {
    {
      std::lock_guard<std::mutex> lock(rx_mu_);
      if (!ready_.empty()) {
        TokenEvent e = ready_.front();
        ready_.pop_front();
        return e;
      }
    }
    if (o_.failover) LL_RETURN_IF_ERROR(watch_devices());
    LL_RETURN_IF_ERROR(balance_tick());
    const bool degraded = state_ != RingState::kServing;
    // Degraded, tokens cannot come; a comeback or the give-up time can.
    auto ready = [&] {
      return (!degraded && !tokens_.empty()) || !failures_.empty() || !back_.empty();
    };
    if (!await(ready, degraded ? std::min(0.1, deadline.left_s()) : deadline.left_s())) {
      if (deadline.expired()) return unavailable("timeout: no token yet");
      continue;
    }
    std::lock_guard<std::mutex> lock(rx_mu_);
    if (!failures_.empty() && !o_.failover) {
      Status st = failures_.front().status;
      failures_.pop_front();
      return st;
    }
    if (failures_.empty() && back_.empty() && !tokens_.empty()) {
      TokenEvent e = tokens_.front();
      tokens_.pop_front();
      e.step = replay_.on_token(e.seq, e.step);
      if (await_first_token_) {  // the first token the new layout computed
        await_first_token_ = false;
        std::lock_guard<std::mutex> hl(health_mu_);
        if (!move_log_.empty()) move_log_.back().first_token_s = clock().now_s() - moved_at_s_;
      }
      return e;
    }
  }
}

void NetRing::maintain() {
  if (!ep_) return;
  Status st;
  if (o_.failover) {
    // Idle, nobody else reads the endpoint: take what arrived (lost links, comebacks).
    (void)await([this] { return !failures_.empty() || !back_.empty(); }, 0.005);
    st = watch_devices();
  }
  if (st.is_ok()) st = balance_tick();
  if (!st.is_ok()) LL_LOG_WARN("head: %s", st.message().c_str());
}

// (net_ring_kv_move.cpp) Here for await(), a template of this file.
// Drains rather than dropping and re-issuing the passes in flight: a dropped pass may already
// have written KV rows on some devices and not on others, and undoing that would need every
// device's progress. Draining costs at most one pass through the ring, and tokens keep
// arriving meanwhile (they are delivered right after the switch).
Status NetRing::drain(double timeout_s) {
  const std::vector<std::pair<uint32_t, int32_t>> owed = replay_.owed();
  auto done = [&] {
    if (!failures_.empty()) return true;
    for (const auto& [step, seq] : owed) {
      bool got = false;
      for (const TokenEvent& e : tokens_) got = got || (e.step == step && e.seq == seq);
      if (!got) return false;
    }
    return true;
  };
  if (!await(done, timeout_s))
    return unavailable("passes still in flight after " + std::to_string(timeout_s) + " s");
  std::lock_guard<std::mutex> lock(rx_mu_);
  if (!failures_.empty()) return failures_.front().status;
  return Status::ok();
}

Status NetRing::wait_until_whole(double timeout_s) {
  Deadline deadline(&clock(), timeout_s);
  while (!lost_.empty()) {
    LL_RETURN_IF_ERROR(watch_devices());
    if (lost_.empty()) break;
    if (!await([this] { return !failures_.empty() || !back_.empty(); }, deadline.left_s())) {
      std::string names;
      for (const std::string& w : lost_) names += (names.empty() ? "" : ", ") + shown_name_of(w);
      return unavailable("devices still lost after " + std::to_string(timeout_s) + " s: " + names);
    }
  }
  return Status::ok();
}

Status NetRing::send_seq_end(int32_t seq) {
  replay_.on_end(seq);
  node_->end_sequence(seq);
  // The end follows the sequence's own passes down the ring (each device forwards it on the
  // links its activations take), so no device frees a slot that a pass still needs.
  for (int to : node_->consumers())
    LL_RETURN_IF_ERROR(send_to(layout_.devices[to].name, make_seq_end(seq)));
  return Status::ok();
}

Result<nlohmann::json> NetRing::device_stats() {
  // Never waits for a recovery: statistics are not worth delaying a request for.
  std::unique_lock<std::mutex> lock(deploy_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return unavailable("the ring is being redeployed");
  return collect_stats();
}

Result<nlohmann::json> NetRing::collect_stats() {
  nlohmann::json out = nlohmann::json::array();
  auto hs = ep_->stats();
  auto shown = [this](const std::string& routing) {
    auto it = shown_.find(routing);
    return it == shown_.end() ? routing : it->second;
  };
  out.push_back({{"name", shown(layout_.devices[0].name)},
                 {"busy_s", node_->busy_s() + throttle_.passes_paid_s()},
                 {"steps", node_->steps_run()},
                 {"bytes_sent", hs.bytes_sent},
                 {"bytes_received", hs.bytes_received}});
  const double trace_s = trace_s_.load();
  if (trace_s > 0) out[0]["trace"] = node_->passes_since(mono_now_s() - trace_s);
  nlohmann::json stats_req = {{"stats", true}};
  if (trace_s > 0) stats_req["trace_s"] = trace_s;
  // A lost device (a degraded ring keeps it in its layout) would not answer: asking it would
  // hold /metrics for the whole reply timeout.
  std::set<std::string> lost;
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    for (const DeviceHealth& d : health_devices_)
      if (d.state == "lost") lost.insert(d.address);
  }
  std::vector<uint32_t> reqs(layout_.size());
  for (int i = 1; i < layout_.size(); ++i) {
    if (lost.count(layout_.devices[i].name)) continue;
    net::Message m;
    m.seq_id = reqs[i] = next_request_.fetch_add(1);
    m.body = net::ProfileReq{stats_req.dump()};
    LL_RETURN_IF_ERROR(send_to(layout_.devices[i].name, std::move(m)));
  }
  for (int i = 1; i < layout_.size(); ++i) {
    const std::string& name = layout_.devices[i].name;
    if (lost.count(name)) {
      out.push_back({{"name", shown_name(i)}, {"address", name}, {"lost", true}});
      continue;
    }
    LL_ASSIGN_OR_RETURN(net::Received r, wait_reply(name, net::MsgType::kProfileResp, reqs[i], 10));
    auto j = nlohmann::json::parse(r.msg.as<net::ProfileResp>()->json, nullptr, false);
    if (j.is_discarded()) return corrupt("malformed stats from " + name);
    j["name"] = shown_name(i);
    j["address"] = name;
    out.push_back(j);
  }
  if (!stats_base_.is_null()) {
    for (size_t i = 0; i < out.size() && i < stats_base_.size(); ++i) {
      if (out[i].value("lost", false)) continue;
      for (const char* k : {"busy_s", "steps", "bytes_sent", "bytes_received"}) {
        out[i][k] = out[i].value(k, 0.0) - stats_base_[i].value(k, 0.0);
      }
    }
  }
  return out;
}

}  // namespace ll::runtime
