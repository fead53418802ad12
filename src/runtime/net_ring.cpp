#include "runtime/net_ring.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

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

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

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
  LL_RETURN_IF_ERROR(r->setup(model_path));
  return r;
}

Result<net::Received> NetRing::wait_from(const std::string& peer, net::MsgType type,
                                         double timeout_s) {
  // Replies from several workers arrive in any order: keep the ones not asked for yet.
  for (auto it = stash_.begin(); it != stash_.end(); ++it) {
    if (it->from.name != peer) continue;
    if (it->msg.type() == type) {
      net::Received r = std::move(*it);
      stash_.erase(it);
      return r;
    }
    if (auto* e = it->msg.as<net::Error>()) {
      const std::string text = e->text;
      stash_.erase(it);
      return unavailable(peer + " refused: " + text);
    }
  }
  const double deadline = now_s() + timeout_s;
  while (true) {
    const double left = deadline - now_s();
    if (left <= 0)
      return unavailable("timed out waiting for " + net::msg_type_name(type) + " from " + peer);
    auto r = ep_->recv(left);
    if (!r.is_ok()) {
      if (r.status().code() == StatusCode::kUnavailable) continue;
      return r.status();
    }
    if (r->msg.type() == net::MsgType::kHello) continue;
    if (r->from.name != peer) {
      if (r->msg.type() != net::MsgType::kError || !(r->msg.flags & net::kFlagLocal))
        stash_.push_back(std::move(*r));
      continue;
    }
    if (r->msg.type() == type) return std::move(*r);
    if (auto* e = r->msg.as<net::Error>()) return unavailable(peer + " refused: " + e->text);
  }
}

Status NetRing::setup(const std::string& model_path) {
  auto say = [this](const std::string& s) {
    if (!o_.quiet) std::fprintf(stderr, "%s\n", s.c_str());
  };
  net::EndpointOptions eo;
  eo.node_name = o_.name;
  eo.role = net::Role::kHead;
  eo.insecure = o_.insecure;
  eo.cluster_key = o_.key;
  eo.added_latency_s = o_.added_latency_s;
  eo.bandwidth_bytes_per_s = o_.bandwidth_bytes_per_s;
  eo.latency_p95_s = o_.latency_p95_s;
  eo.loss_rate = o_.loss_rate;
  LL_ASSIGN_OR_RETURN(ep_, net::Endpoint::create(eo));
  const int n_workers = static_cast<int>(o_.workers.size());
  std::vector<std::string> wnames;
  for (int i = 0; i < n_workers; ++i) {
    // Workers are named by address: unique, and the same in every run and on every device.
    wnames.push_back(o_.workers[i]);
    auto c = ep_->connect(wnames[i], o_.workers[i]);
    if (!c.is_ok())
      return unavailable("cannot reach worker " + o_.workers[i] + ": " + c.status().message());
  }

  // Profiles: the head measures itself; each worker measures itself and its links to the others.
  say("profiling " + std::to_string(n_workers + 1) + " devices and their links...");
  std::vector<nlohmann::json> wprof(n_workers);
  for (int i = 0; i < n_workers; ++i) {
    nlohmann::json req;
    req["probe"] = nlohmann::json::array();
    for (int k = 0; k < n_workers; ++k) {
      if (k != i) req["probe"].push_back({{"name", wnames[k]}, {"address", o_.workers[k]}});
    }
    net::Message m;
    m.body = net::ProfileReq{req.dump()};
    LL_RETURN_IF_ERROR(ep_->send(net::PeerId::outgoing(wnames[i]), std::move(m)));
  }
  ProfileOptions hpo;
  hpo.threads = o_.threads;
  hpo.mem_budget_bytes = o_.mem_budget_bytes;
  hpo.cache_dir = o_.cache_dir;
  hpo.throttle = &throttle_;
  LL_ASSIGN_OR_RETURN(plan::DeviceProfile head_prof,
                      profile_device(o_.display_name.empty() ? o_.name : o_.display_name, hpo));
  for (int i = 0; i < n_workers; ++i) {
    LL_ASSIGN_OR_RETURN(net::Received r, wait_from(wnames[i], net::MsgType::kProfileResp, 120));
    wprof[i] = nlohmann::json::parse(r.msg.as<net::ProfileResp>()->json, nullptr, false);
    if (wprof[i].is_discarded())
      return corrupt("worker " + wnames[i] + " sent a malformed profile");
  }
  plan::Cluster cluster;
  head_prof.head = true;
  cluster.devices.push_back(head_prof);
  for (int i = 0; i < n_workers; ++i) {
    LL_ASSIGN_OR_RETURN(plan::DeviceProfile p,
                        plan::device_profile_from_json(wprof[i].value("device", nlohmann::json()),
                                                       "profile of worker " + wnames[i]));
    // Shown by the name it gave itself (a local cluster's spec name), else by its address.
    for (const auto& d : cluster.devices) p.name = d.name == p.name ? "" : p.name;
    if (p.name.empty()) p.name = wnames[i];
    cluster.devices.push_back(std::move(p));
  }
  const int n_dev = n_workers + 1;
  cluster.links.assign(n_dev, std::vector<plan::LinkProfile>(n_dev));
  for (int i = 0; i < n_workers; ++i) {
    LL_ASSIGN_OR_RETURN(net::LinkProbe lp, ep_->probe_link(net::PeerId::outgoing(wnames[i])));
    plan::LinkProfile l{lp.rtt_median_s / 2, lp.rtt_p95_s / 2, lp.bandwidth_bytes_per_s};
    cluster.links[0][i + 1] = cluster.links[i + 1][0] = l;
    if (wprof[i].contains("links")) {
      for (int k = 0; k < n_workers; ++k) {
        if (!wprof[i]["links"].contains(wnames[k])) continue;
        const auto& lj = wprof[i]["links"][wnames[k]];
        cluster.links[i + 1][k + 1] =
            plan::LinkProfile{lj.value("rtt_median_s", 0.0) / 2, lj.value("rtt_p95_s", 0.0) / 2,
                              lj.value("bandwidth_bytes_per_s", 1e9)};
      }
    }
  }

  // Plan over the default segments, then merge each device's run into one coarse segment.
  const graph::Graph& g = m_.graph;
  LL_ASSIGN_OR_RETURN(graph::Segmentation fine, graph::segment_default(g, 0));
  LL_ASSIGN_OR_RETURN(graph::GraphCosts costs, graph::compute_costs(g, fine, *m_.weights));
  DevicePlacement placement;
  if (!o_.force_cuts.empty()) {
    LL_ASSIGN_OR_RETURN(placement.coarse, graph::segment_at(g, o_.force_cuts));
    if (placement.coarse.size() > n_dev)
      return invalid_argument("more forced segments than devices");
    for (int i = 0; i < placement.coarse.size(); ++i) placement.devices.push_back(i);
  } else {
    plan::RunConfig run;
    run.ctx = o_.n_ctx;
    run.n_seqs = o_.max_seqs;
    plan::ModelProfile mp =
        model_profile(fs::path(model_path).stem().string(), g, fine, costs, *m_.weights, o_.n_ctx);
    plan::PlanOptions po;
    po.objective = o_.objective;
    LL_ASSIGN_OR_RETURN(plan::PlanReport rep, plan::make_plan(mp, cluster, run, po));
    plan_json_ = plan::plan_report_to_json(rep);
    plan_text_ = plan::render_text(rep);
    const plan::PlanSummary* chosen = &rep.plan;  // or a baseline, to measure it
    for (const plan::PlanSummary& b : rep.baselines) chosen = b.name == o_.placement ? &b : chosen;
    if (chosen->name != o_.placement)
      return invalid_argument("placement must be plan, even or memory, not " + o_.placement);
    predicted_tok_s_ = o_.objective == plan::Objective::kLatency ? chosen->single_stream_tok_s
                                                                 : chosen->pipelined_tok_s;
    LL_ASSIGN_OR_RETURN(placement, placement_from_plan(g, fine, chosen->device_of_segment));
    if (placement.devices[0] != 0) return internal_error("the plan does not start on the head");
  }
  coarse_ = placement.coarse;
  for (int d : placement.devices) {
    names_.push_back(d == 0 ? o_.name : wnames[d - 1]);
    shown_names_.push_back(d == 0 && !o_.display_name.empty() ? o_.display_name
                                                              : cluster.devices[d].name);
  }
  say("plan: " + std::to_string(names_.size()) + " devices in the ring");

  // Weights: a worker with the same model file uses its own copy; others get their share.
  LL_ASSIGN_OR_RETURN(std::string model_hash, file_content_hash(model_path, o_.cache_dir));
  nlohmann::json devices = nlohmann::json::array();
  for (size_t i = 0; i < names_.size(); ++i) {
    const int d = placement.devices[i];
    devices.push_back(
        {{"name", names_[i]}, {"address", d == 0 ? std::string() : o_.workers[d - 1]}});
  }
  for (size_t i = 1; i < names_.size(); ++i) {
    const int w = placement.devices[i] - 1;
    nlohmann::json weights;
    if (wprof[w].value("model_hash", "") == model_hash) {
      weights = {{"kind", "own"}};
    } else {
      std::set<std::string> names;
      for (int n = coarse_.begin(i); n < coarse_.end(i); ++n) {
        for (const auto& wn : g.nodes[n].weights) names.insert(wn);
      }
      std::error_code ec;
      fs::create_directories(o_.cache_dir, ec);
      const std::string share = o_.cache_dir + "/share-" + model_hash + "-" +
                                std::to_string(coarse_.begin(i)) + "-" +
                                std::to_string(coarse_.end(i)) + ".gguf";
      if (!fs::exists(share)) {
        const std::string tmp = share + ".tmp" + std::to_string(getpid());
        LL_RETURN_IF_ERROR(
            gguf::write_subset(*m_.file, std::vector<std::string>(names.begin(), names.end()), tmp,
                               [&](gguf::Writer& wr) {
                                 wr.set_u32("lingualinked.n_vocab", g.hp.n_vocab);
                                 wr.set_bool("lingualinked.tied_output", g.hp.tied_output);
                               }));
        fs::rename(tmp, share);
      }
      LL_ASSIGN_OR_RETURN(std::string key, file_content_hash(share, o_.cache_dir));
      LL_RETURN_IF_ERROR(ship_weights(static_cast<int>(i), share, key));
      weights = {{"kind", "cache"}, {"key", key}};
    }
    nlohmann::json dj = {
        {"me", i},
        {"head", o_.name},
        {"devices", devices},
        {"cuts", std::vector<int>(coarse_.starts.begin() + 1, coarse_.starts.end())},
        {"n_ctx", o_.n_ctx},
        {"max_seqs", o_.max_seqs},
        {"weights", weights},
        {"model_hash", model_hash}};
    net::Message m;
    m.body = net::Deploy{dj.dump(), {}};
    LL_RETURN_IF_ERROR(ep_->send(net::PeerId::outgoing(names_[i]), std::move(m)));
  }
  for (size_t i = 1; i < names_.size(); ++i) {
    auto ack = wait_from(names_[i], net::MsgType::kDeployAck, 120);
    if (!ack.is_ok()) return ack.status();
  }
  LL_ASSIGN_OR_RETURN(
      node_, DeviceNode::create(g, coarse_, 0, *m_.weights, o_.n_ctx, o_.max_seqs, o_.threads));
  // Traffic and busy time are reported per run: deployment and earlier runs are subtracted.
  LL_ASSIGN_OR_RETURN(stats_base_, device_stats());
  return Status::ok();
}

Status NetRing::ship_weights(int device, const std::string& path, const std::string& key) {
  const std::string& peer = names_[device];
  LL_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> mf, MappedFile::open(path));
  net::Message q;
  q.body = net::WeightsQuery{{net::WeightRef{key, mf->size()}}};
  LL_RETURN_IF_ERROR(ep_->send(net::PeerId::outgoing(peer), std::move(q)));
  LL_ASSIGN_OR_RETURN(net::Received have, wait_from(peer, net::MsgType::kWeightsHave, 60));
  for (const auto& k : have.msg.as<net::WeightsHave>()->keys) {
    if (k == key) return Status::ok();  // cached there already: nothing moves
  }
  const size_t chunk = 1 << 20;
  const bool tty = isatty(STDERR_FILENO) && !o_.quiet;
  // Chunks are views into the mapping; each holds a reference so it outlives queued sends.
  std::shared_ptr<const void> owner(mf, mf->data());
  for (size_t off = 0; off < mf->size(); off += chunk) {
    const size_t n = std::min(chunk, mf->size() - off);
    net::Message c;
    c.body = net::WeightsChunk{key, off, mf->size(), net::payload_view(mf->data() + off, n, owner)};
    LL_RETURN_IF_ERROR(ep_->send(net::PeerId::outgoing(peer), std::move(c)));
    weight_bytes_sent_ += n;
    if (tty)
      std::fprintf(stderr, "\rsending weights to %s: %3d%%", peer.c_str(),
                   static_cast<int>(100.0 * (off + n) / mf->size()));
  }
  if (tty) std::fprintf(stderr, "\n");
  net::Message d;
  d.body = net::WeightsDone{key, mf->size()};
  LL_RETURN_IF_ERROR(ep_->send(net::PeerId::outgoing(peer), std::move(d)));
  LL_ASSIGN_OR_RETURN(net::Received done, wait_from(peer, net::MsgType::kWeightsHave, 600));
  for (const auto& k : done.msg.as<net::WeightsHave>()->keys) {
    if (k == key) return Status::ok();
  }
  return corrupt("worker " + peer + " did not confirm the weights");
}

Status NetRing::start_sequence(int32_t seq, const model::SamplerParams& p,
                               const std::vector<int32_t>& history) {
  if (node_->is_tail()) {
    node_->start_sequence(seq, p, history);
    return Status::ok();
  }
  // To the next device, which passes it on toward the tail (see the worker's on_step).
  return ep_->send(net::PeerId::outgoing(names_[node_->index() + 1]),
                   make_seq_start(seq, p, history));
}

Status NetRing::submit(uint32_t step, const graph::Batch& batch) {
  node_->submit(step, batch);
  ThrottledOutbox out(this, node_.get(), &throttle_);  // an emulated slower head device
  return node_->run_ready(&out);
}

Status NetRing::send_tensors(int to, uint32_t step, const graph::Batch& batch,
                             std::vector<std::pair<int, std::vector<float>>> tensors) {
  return ep_->send(net::PeerId::outgoing(names_[to]),
                   make_step(step, m_.graph, batch, std::move(tensors)));
}

Status NetRing::send_token(int32_t seq, uint32_t step, int32_t token) {
  local_tokens_.push_back(TokenEvent{seq, step, token});
  return Status::ok();
}

Result<TokenEvent> NetRing::next_token(double timeout_s) {
  const double deadline = now_s() + timeout_s;
  while (true) {
    if (!local_tokens_.empty()) {
      TokenEvent e = local_tokens_.front();
      local_tokens_.pop_front();
      return e;
    }
    const double left = deadline - now_s();
    if (left <= 0) return unavailable("timeout: no token yet");
    auto r = ep_->recv(left);
    if (!r.is_ok()) {
      if (r.status().code() == StatusCode::kUnavailable)
        return unavailable("timeout: no token yet");
      return r.status();
    }
    if (const net::Token* t = r->msg.as<net::Token>()) {
      return TokenEvent{static_cast<int32_t>(r->msg.seq_id), r->msg.step, t->token_id};
    }
    if (const net::Error* e = r->msg.as<net::Error>()) {
      return internal_error("device " + r->from.name + " failed: " + e->text);
    }
  }
}

Status NetRing::end_sequence(int32_t seq) {
  node_->end_sequence(seq);
  // The reset follows the sequence's own steps down the ring (each device forwards it on the
  // links its activations take), so no device frees a slot that a step still needs.
  for (int to : node_->consumers()) {
    net::Message m;
    m.seq_id = static_cast<uint32_t>(seq);
    m.body = net::ResetSeq{};
    LL_RETURN_IF_ERROR(ep_->send(net::PeerId::outgoing(names_[to]), std::move(m)));
  }
  return Status::ok();
}

Result<nlohmann::json> NetRing::device_stats() {
  nlohmann::json out = nlohmann::json::array();
  auto hs = ep_->stats();
  out.push_back({{"name", shown_names_[0]},
                 {"busy_s", node_->busy_s() + throttle_.passes_paid_s()},
                 {"steps", node_->steps_run()},
                 {"bytes_sent", hs.bytes_sent},
                 {"bytes_received", hs.bytes_received}});
  for (size_t i = 1; i < names_.size(); ++i) {
    net::Message m;
    m.body = net::ProfileReq{R"({"stats":true})"};
    LL_RETURN_IF_ERROR(ep_->send(net::PeerId::outgoing(names_[i]), std::move(m)));
    LL_ASSIGN_OR_RETURN(net::Received r, wait_from(names_[i], net::MsgType::kProfileResp, 10));
    auto j = nlohmann::json::parse(r.msg.as<net::ProfileResp>()->json, nullptr, false);
    if (j.is_discarded()) return corrupt("malformed stats from " + names_[i]);
    j["name"] = shown_names_[i];
    j["address"] = names_[i];
    out.push_back(j);
  }
  if (!stats_base_.is_null()) {
    for (size_t i = 0; i < out.size() && i < stats_base_.size(); ++i) {
      for (const char* k : {"busy_s", "steps", "bytes_sent", "bytes_received"}) {
        out[i][k] = out[i].value(k, 0.0) - stats_base_[i].value(k, 0.0);
      }
    }
  }
  return out;
}

}  // namespace ll::runtime
