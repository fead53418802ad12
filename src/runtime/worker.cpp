#include "runtime/worker.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/hash.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "graph/segment.h"
#include "graph/weights.h"
#include "model/arch.h"
#include "net/payload.h"
#include "plan/profile_json.h"
#include "runtime/device_node.h"
#include "runtime/profiler.h"
#include "runtime/wire.h"

namespace ll::runtime {

namespace fs = std::filesystem;

Result<std::string> file_content_hash(const std::string& path, const std::string& cache_dir) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return io_error("cannot stat " + path);
  const std::string tag = hash_hex(path.data(), path.size()) + "-" + std::to_string(st.st_size) +
                          "-" + std::to_string(st.st_mtime);
  const fs::path memo = fs::path(cache_dir) / ("filehash-" + tag);
  if (!cache_dir.empty() && fs::exists(memo)) {
    std::ifstream in(memo);
    std::string h;
    if (in >> h && h.size() == 32) return h;
  }
  LL_ASSIGN_OR_RETURN(auto mf, MappedFile::open(path));
  const std::string h = hash_hex(mf->data(), mf->size());
  if (!cache_dir.empty()) {
    std::error_code ec;
    fs::create_directories(cache_dir, ec);
    std::ofstream(memo) << h;
  }
  return h;
}

namespace {

// Everything a deployment brings: the model (own file or cached share), the graph, the node.
struct Deployment {
  std::unique_ptr<gguf::File> file;
  graph::Graph graph;
  std::unique_ptr<graph::GgufWeights> weights;
  std::unique_ptr<DeviceNode> node;
  std::vector<std::string> device_names;  // ring order; [0] is the head
  std::string head_name;
  uint32_t session_id = 0;
  int me = 0;
  nlohmann::json weights_json;  // the DEPLOY's "weights": the same ones can be kept by the next
  int n_ctx = 0, max_seqs = 0;
};

class Worker : public Outbox {
 public:
  Worker(const WorkerOptions& o, net::Endpoint* ep)
      : o_(o), ep_(ep), throttle_(o.speed, o.speed_schedule) {}

  Status init() {
    if (!o_.model_path.empty()) {
      auto h = file_content_hash(o_.model_path, o_.cache_dir);
      if (!h.is_ok()) return h.status();
      own_hash_ = *h;
    }
    return Status::ok();
  }

  void handle(net::Received& r) {
    LL_LOG_DEBUG("%s: %s from %s (seq %u, step %u)", ep_->options().node_name.c_str(),
                 net::msg_type_name(r.msg.type()).c_str(), r.from.to_string().c_str(), r.msg.seq_id,
                 r.msg.step);
    Status st = dispatch(r);
    if (!st.is_ok()) {
      LL_LOG_WARN("worker %s: %s from %s: %s", ep_->options().node_name.c_str(),
                  net::msg_type_name(r.msg.type()).c_str(), r.from.to_string().c_str(),
                  st.message().c_str());
      auto error = [&] {
        net::Message e;
        e.seq_id = r.msg.seq_id;
        e.epoch = r.msg.epoch;
        e.step = r.msg.step;
        e.body =
            net::Error{net::ErrorCode::kBadMessage, ep_->options().node_name + ": " + st.message()};
        return e;
      };
      // The head must hear of it too: a step that fails on a later device would otherwise
      // leave the head waiting for a token that never comes.
      if (dep_ && r.from.name != dep_->head_name) {
        (void)ep_->send(net::PeerId::incoming(dep_->head_name), error());
      }
      (void)ep_->send(r.from, error());
    }
  }

  bool shutdown() const { return shutdown_; }

 private:
  Status dispatch(net::Received& r) {
    net::Message& m = r.msg;
    switch (m.type()) {
      case net::MsgType::kProfileReq:
        return on_profile(r);
      case net::MsgType::kWeightsQuery:
        return on_weights_query(r);
      case net::MsgType::kWeightsChunk:
        return on_weights_chunk(r);
      case net::MsgType::kWeightsDone:
        return on_weights_done(r);
      case net::MsgType::kDeploy:
        return on_deploy(r);
      case net::MsgType::kKvExport:
        return on_kv_export(r);
      case net::MsgType::kKvRows:
        return on_kv_rows(r);
      case net::MsgType::kStep:
      case net::MsgType::kSeqStart:
      case net::MsgType::kSeqEnd:
        return on_runtime(r);
      case net::MsgType::kShutdown:
        shutdown_ = true;
        return Status::ok();
      case net::MsgType::kError:
        if (auto* e = m.as<net::Error>())
          LL_LOG_INFO("peer %s reports: %s", r.from.to_string().c_str(), e->text.c_str());
        return Status::ok();
      default:
        return Status::ok();  // probes are answered by the endpoint itself
    }
  }

  Status on_profile(net::Received& r) {
    auto req = nlohmann::json::parse(r.msg.as<net::ProfileReq>()->json, nullptr, false);
    if (req.is_discarded() || !req.is_object())
      return invalid_argument("PROFILE_REQ: payload is not a JSON object");
    nlohmann::json resp;
    if (req.value("stats", false)) {
      // An emulated slower device is busy for its idling too (runtime/throttle.h).
      resp["busy_s"] = (dep_ ? dep_->node->busy_s() : 0.0) + throttle_.passes_paid_s();
      resp["throttle_s"] = throttle_.passes_paid_s();
      resp["steps"] = dep_ ? dep_->node->steps_run() : 0;
      resp["rows"] = dep_ ? dep_->node->rows_run() : 0;
      if (const double w = req.value("trace_s", 0.0); w > 0 && dep_) {
        resp["trace"] = dep_->node->passes_since(mono_now_s() - std::min(w, 60.0));
      }
      auto s = ep_->stats();
      resp["bytes_sent"] = s.bytes_sent;
      resp["bytes_received"] = s.bytes_received;
    } else {
      ProfileOptions po;
      po.threads = o_.threads;
      po.mem_budget_bytes = o_.mem_budget_bytes;
      po.cache_dir = o_.cache_dir;
      po.throttle = &throttle_;
      if (req.contains("types") && req["types"].is_array()) {
        for (const auto& t : req["types"]) {
          auto d = t.is_string() ? dtype_from_name(t.get<std::string>()) : std::nullopt;
          if (!d) return invalid_argument("PROFILE_REQ: unknown weight type " + t.dump());
          po.types.push_back(*d);
        }
      }
      LL_ASSIGN_OR_RETURN(plan::DeviceProfile p, profile_device(ep_->options().node_name, po));
      resp["name"] = ep_->options().node_name;  // shown in plans and stats (routing uses addresses)
      resp["device"] = plan::device_profile_to_json(p);
      resp["model_hash"] = own_hash_;
      // Links to the other workers, measured from here over the real transport.
      if (req.contains("probe") && req["probe"].is_array()) {
        for (const auto& peer : req["probe"]) {
          const std::string name = peer.value("name", ""), addr = peer.value("address", "");
          if (name.empty() || addr.empty()) continue;
          LL_RETURN_IF_ERROR(link_to(addr));
          auto lp = ep_->probe_link(net::PeerId::outgoing(addr));
          if (!lp.is_ok()) return lp.status();
          resp["links"][name] = {{"rtt_median_s", lp->rtt_median_s},
                                 {"rtt_p95_s", lp->rtt_p95_s},
                                 {"bandwidth_bytes_per_s", lp->bandwidth_bytes_per_s}};
        }
      }
    }
    net::Message out;
    out.seq_id = r.msg.seq_id;
    out.body = net::ProfileResp{resp.dump()};
    return ep_->send(r.from, std::move(out));
  }

  fs::path cache_file(const std::string& key) const {
    return fs::path(o_.cache_dir) / ("weights-" + key + ".gguf");
  }

  static bool valid_key(const std::string& k) {
    if (k.size() != 32) return false;
    for (char c : k) {
      if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
  }

  Status on_weights_query(net::Received& r) {
    net::WeightsHave have;
    for (const net::WeightRef& w : r.msg.as<net::WeightsQuery>()->blobs) {
      if (valid_key(w.key) && fs::exists(cache_file(w.key)) &&
          fs::file_size(cache_file(w.key)) == w.bytes)
        have.keys.push_back(w.key);
    }
    net::Message out;
    out.seq_id = r.msg.seq_id;
    out.body = std::move(have);
    return ep_->send(r.from, std::move(out));
  }

  Status on_weights_chunk(net::Received& r) {
    const net::WeightsChunk* c = r.msg.as<net::WeightsChunk>();
    if (!valid_key(c->key)) return invalid_argument("WEIGHTS_CHUNK: bad key");
    if (c->total_bytes > (1ull << 40) || c->offset + c->data.size() > c->total_bytes)
      return invalid_argument("WEIGHTS_CHUNK: chunk outside the blob");
    std::error_code ec;
    fs::create_directories(o_.cache_dir, ec);
    auto& f = partial_[c->key];
    if (!f) {
      f.reset(std::fopen((cache_file(c->key).string() + ".part").c_str(), "wb"));
      if (!f) return io_error("cannot write to cache dir " + o_.cache_dir);
    }
    if (std::fseek(f.get(), static_cast<long>(c->offset), SEEK_SET) != 0 ||
        std::fwrite(c->data.data(), 1, c->data.size(), f.get()) != c->data.size()) {
      return io_error("cache write failed");
    }
    return Status::ok();
  }

  Status on_weights_done(net::Received& r) {
    const net::WeightsDone* d = r.msg.as<net::WeightsDone>();
    auto it = partial_.find(d->key);
    if (it == partial_.end()) return invalid_argument("WEIGHTS_DONE for a blob never sent");
    it->second.reset();
    partial_.erase(it);
    const std::string part = cache_file(d->key).string() + ".part";
    LL_ASSIGN_OR_RETURN(auto mf, MappedFile::open(part));
    if (mf->size() != d->total_bytes || hash_hex(mf->data(), mf->size()) != d->key) {
      fs::remove(part);
      return corrupt("received weights do not match their hash; discarded");
    }
    mf.reset();
    fs::rename(part, cache_file(d->key));
    net::Message out;
    out.seq_id = r.msg.seq_id;
    out.body = net::WeightsHave{{d->key}};
    return ep_->send(r.from, std::move(out));
  }

  // The model file a DEPLOY asks for: this worker's own copy, or a share in the cache.
  Result<std::string> weights_path(const nlohmann::json& j) const {
    const std::string kind = j.at("weights").at("kind").get<std::string>();
    if (kind == "own") {
      if (o_.model_path.empty() || j.at("model_hash").get<std::string>() != own_hash_)
        return invalid_argument(
            "DEPLOY: asked to use my own model file, but it is absent or differs");
      return o_.model_path;
    }
    const std::string key = j.at("weights").at("key").get<std::string>();
    if (!valid_key(key) || !fs::exists(cache_file(key)))
      return not_found("DEPLOY: weights " + key + " are not in the cache");
    return cache_file(key).string();
  }

  // The memory budget is checked before the KV cache is allocated.
  Status check_budget(const Deployment& d, const graph::Segmentation& seg,
                      const graph::ModelDims& hp, int n_ctx, int max_seqs) const {
    if (o_.mem_budget_bytes <= 0) return Status::ok();
    int n_attn = 0;
    double weight_bytes = 0;
    std::set<std::string> seen;
    for (int n = seg.begin(d.me); n < seg.end(d.me); ++n) {
      const graph::Node& node = d.graph.nodes[n];
      n_attn += node.op == graph::OpType::kAttention;
      for (const auto& w : node.weights) {
        const graph::WeightView* v = d.weights->find(w);
        if (v && seen.insert(w).second) weight_bytes += v->n_bytes;
      }
    }
    const double kv =
        static_cast<double>(graph::KvCache::bytes_for(n_attn, hp.n_embd_kv(), n_ctx, max_seqs));
    if (weight_bytes + kv <= o_.mem_budget_bytes) return Status::ok();
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "DEPLOY: segment needs %.1f MiB (weights %.1f MiB + KV cache %.1f MiB) but "
                  "the memory budget is %.1f MiB",
                  (weight_bytes + kv) / 1048576.0, weight_bytes / 1048576.0, kv / 1048576.0,
                  o_.mem_budget_bytes / 1048576.0);
    return out_of_memory(buf);
  }

  // A DEPLOY with "keep" (a move, docs/balance.md) on a device whose op range, weights and
  // cache sizes do not change: the deployment stays, with its KV rows and samplers; only the
  // routing, the ring index and the epoch follow the new layout.
  Result<bool> keep_deployment(const nlohmann::json& j, const net::Received& r) {
    if (!j.value("keep", false) || !dep_ || dep_->session_id != r.msg.session_id ||
        j.at("weights") != dep_->weights_json || j.at("n_ctx").get<int>() != dep_->n_ctx ||
        j.at("max_seqs").get<int>() != dep_->max_seqs)
      return false;
    const int me = j.at("me").get<int>();
    std::vector<std::string> names;
    for (const auto& dev : j.at("devices")) names.push_back(dev.at("address").get<std::string>());
    auto seg = graph::segment_at(dep_->graph, j.at("cuts").get<std::vector<int>>());
    if (!seg.is_ok() || seg->size() != static_cast<int>(names.size()) || me <= 0 ||
        me >= seg->size() || seg->begin(me) != dep_->node->node_begin() ||
        seg->end(me) != dep_->node->node_end())
      return false;
    if (!dep_->node->relayout(*seg, me).is_ok()) return false;  // other inputs: redeploy
    dep_->me = me;
    dep_->device_names = names;
    dep_->head_name = j.at("head").get<std::string>();
    dep_->node->set_epoch(r.msg.epoch);
    dep_->node->retain(j.value("live", std::vector<int32_t>()));
    LL_RETURN_IF_ERROR(link_consumers(dep_->graph, *seg, me, j.at("devices")));
    return true;
  }

  // Connects to every device this segment sends to.
  Status link_consumers(const graph::Graph& g, const graph::Segmentation& seg, int me,
                        const nlohmann::json& devs) {
    const graph::TransmissionMap map = graph::build_map(g, seg);
    for (const graph::MapEdge& e : map.edges) {
      if (e.producer != me) continue;
      for (int c : e.consumers) {
        if (c <= 0) continue;
        LL_RETURN_IF_ERROR(link_to(devs[c].at("address").get<std::string>()));
      }
    }
    return Status::ok();
  }

  Status ack_deploy(const net::Received& r, bool kept, bool prepared = false) {
    nlohmann::json ack = {{"ok", true},
                          {"kept", kept},
                          {"prepared", prepared},
                          {"attention_layers", dep_->node->attention_layers()}};
    net::Message out;
    out.seq_id = r.msg.seq_id;
    out.body = net::DeployAck{ack.dump()};
    return ep_->send(r.from, std::move(out));
  }

  // The share, graph and node a DEPLOY asks for, without installing them. Thread-safe: a
  // move's prepared deployment is built on its own thread while this one serves.
  Result<std::unique_ptr<Deployment>> build_deployment(const nlohmann::json& j) const {
    auto d = std::make_unique<Deployment>();
    try {
      LL_ASSIGN_OR_RETURN(std::string path, weights_path(j));
      d->me = j.at("me").get<int>();
      d->head_name = j.at("head").get<std::string>();
      // Outgoing links are named by the peer's address (the head is reached on its own link).
      for (const auto& dev : j.at("devices"))
        d->device_names.push_back(dev.at("address").get<std::string>());
      std::vector<int> cuts = j.at("cuts").get<std::vector<int>>();
      const int n_ctx = j.at("n_ctx").get<int>(), max_seqs = j.at("max_seqs").get<int>();
      if (n_ctx <= 0 || n_ctx > (1 << 24) || max_seqs <= 0 || max_seqs > 4096)
        return invalid_argument("DEPLOY: bad n_ctx or max_seqs");
      LL_ASSIGN_OR_RETURN(d->file, gguf::File::open(path));
      LL_ASSIGN_OR_RETURN(d->graph, model::build_graph(*d->file, /*check_weights=*/false));
      const graph::ModelDims& hp = d->graph.hp;
      LL_ASSIGN_OR_RETURN(graph::Segmentation seg, graph::segment_at(d->graph, cuts));
      if (seg.size() != static_cast<int>(d->device_names.size()) || d->me <= 0 ||
          d->me >= seg.size())
        return invalid_argument("DEPLOY: segments and devices do not match");
      d->weights = std::make_unique<graph::GgufWeights>(*d->file);
      LL_RETURN_IF_ERROR(check_budget(*d, seg, hp, n_ctx, max_seqs));
      LL_ASSIGN_OR_RETURN(d->node, DeviceNode::create(d->graph, seg, d->me, *d->weights, n_ctx,
                                                      max_seqs, o_.threads));
      d->weights_json = j.at("weights");
      d->n_ctx = n_ctx;
      d->max_seqs = max_seqs;
    } catch (const std::exception& e) {
      return invalid_argument(std::string("DEPLOY: ") + e.what());
    }
    return d;
  }

  // What must match for a prepared deployment to serve a later DEPLOY.
  static nlohmann::json deployment_key(const nlohmann::json& j) {
    nlohmann::json k = j;
    for (const char* f : {"keep", "live", "prepare"}) k.erase(f);
    return k;
  }

  // DEPLOY with "prepare" (a move, before its switch): builds the deployment on its own thread
  // and answers DEPLOY_ACK {"prepared":true} when it is ready, so the switch only installs it.
  Status prepare_deployment(const nlohmann::json& j, const net::Received& r) {
    prepared_.reset();   // waits for an earlier one still building
    staged_ = Staged{};  // a new move: its pre-copy follows this
    auto p = std::make_unique<Prepared>();
    p->key = deployment_key(j);
    p->session_id = r.msg.session_id;
    const net::PeerId to = r.from;
    const uint32_t req = r.msg.seq_id, epoch = r.msg.epoch;
    Prepared* pp = p.get();  // outlives the thread: ~Prepared joins it
    p->built = std::async(std::launch::async, [this, pp, j, to, req, epoch] {
      auto d = build_deployment(j);
      if (d.is_ok())
        pp->dims = {(*d)->graph.hp.n_layer, (*d)->graph.hp.n_embd_kv(), (*d)->n_ctx,
                    (*d)->max_seqs};
      net::Message out;
      out.seq_id = req;
      out.epoch = epoch;
      if (d.is_ok()) {
        out.body = net::DeployAck{R"({"ok":true,"prepared":true})"};
      } else {
        out.body = net::Error{net::ErrorCode::kBadMessage,
                              ep_->options().node_name + ": " + d.status().message()};
      }
      (void)ep_->send(to, std::move(out));
      return d;
    });
    prepared_ = std::move(p);
    return Status::ok();
  }

  Status on_deploy(net::Received& r) {
    auto j = nlohmann::json::parse(r.msg.as<net::Deploy>()->json, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return invalid_argument("DEPLOY: payload is not a JSON object");
    std::unique_ptr<Deployment> d;
    bool prepared = false;
    try {
      if (j.value("prepare", false)) return prepare_deployment(j, r);
      LL_ASSIGN_OR_RETURN(bool kept, keep_deployment(j, r));
      if (kept) {
        staged_ = Staged{};  // a device that keeps its range takes no moved rows
        return ack_deploy(r, true);
      }
      // A deployment prepared for exactly this one is installed; any other is dropped.
      std::unique_ptr<Prepared> p = std::move(prepared_);
      if (p && p->session_id == r.msg.session_id && p->key == deployment_key(j)) {
        auto built = p->built.get();
        if (built.is_ok()) d = std::move(*built), prepared = true;
      }
      if (!d) {
        LL_ASSIGN_OR_RETURN(d, build_deployment(j));
      }
      d->node->set_epoch(r.msg.epoch);
      d->session_id = r.msg.session_id;
      LL_ASSIGN_OR_RETURN(graph::Segmentation seg,
                          graph::segment_at(d->graph, j.at("cuts").get<std::vector<int>>()));
      LL_RETURN_IF_ERROR(link_consumers(d->graph, seg, d->me, j.at("devices")));
      // A move keeps the KV rows of the layers this device runs before and after.
      if (j.value("keep", false)) {
        const std::vector<int32_t> live = j.value("live", std::vector<int32_t>());
        if (dep_ && dep_->session_id == d->session_id && d->node->adopt(*dep_->node).is_ok())
          d->node->retain(live);
        // The pre-copied rows, taken in the epoch this move ends (a device new to the ring
        // has no deployment of its own to take it from).
        if (prepared && staged_.session_id == d->session_id && staged_.epoch + 1 == r.msg.epoch)
          install_staged(*d->node, live);
      }
    } catch (const std::exception& e) {
      return invalid_argument(std::string("DEPLOY: ") + e.what());
    }
    staged_ = Staged{};
    dep_ = std::move(d);
    return ack_deploy(r, false, prepared);
  }

  // KV_EXPORT, of the current deployment: a sequence's rows of some layers, to the head.
  Status on_kv_export(net::Received& r) {
    if (!dep_) return unavailable("KV_EXPORT: not deployed");
    if (r.msg.epoch != dep_->node->epoch())
      return invalid_argument("KV_EXPORT of epoch " + std::to_string(r.msg.epoch) +
                              ", but this device is deployed for epoch " +
                              std::to_string(dep_->node->epoch()));
    const net::KvExport* e = r.msg.as<net::KvExport>();
    const int n_pos = static_cast<int>(e->n_pos);
    LL_ASSIGN_OR_RETURN(graph::KvRows rows,
                        e->ranged
                            ? dep_->node->export_kv_range(e->seq, e->layer_begin, e->layer_end,
                                                          static_cast<int>(e->pos_begin), n_pos)
                            : dep_->node->export_kv(e->seq, e->layer_begin, e->layer_end, n_pos));
    net::Message out = make_kv_rows(e->seq, dep_->node->kv().find_slot(e->seq), std::move(rows));
    out.seq_id = r.msg.seq_id;
    out.session_id = dep_->session_id;
    out.epoch = r.msg.epoch;
    return ep_->send(r.from, std::move(out));
  }

  // KV_ROWS from the head, after a move's DEPLOY: rows of layers this device now runs.
  Status on_kv_rows(net::Received& r) {
    if (r.msg.flags & net::kFlagPrecopy) {  // for the prepared deployment, not this one
      LL_ASSIGN_OR_RETURN(DecodedKvRows d, read_kv_rows(r.msg));
      const int32_t seq = d.seq;
      const uint32_t n_layers = static_cast<uint32_t>(d.rows.layers.size());
      LL_RETURN_IF_ERROR(stage(r.msg.session_id, r.msg.epoch, std::move(d)));
      return ack_kv_rows(r, seq, n_layers);
    }
    if (!dep_) return unavailable("KV_ROWS: not deployed");
    if (r.msg.epoch != dep_->node->epoch())
      return invalid_argument("KV_ROWS of epoch " + std::to_string(r.msg.epoch) +
                              ", but this device is deployed for epoch " +
                              std::to_string(dep_->node->epoch()));
    LL_ASSIGN_OR_RETURN(DecodedKvRows d, read_kv_rows(r.msg));
    LL_RETURN_IF_ERROR(dep_->node->import_kv(d.seq, d.kv_slot, d.rows));
    return ack_kv_rows(r, d.seq, static_cast<uint32_t>(d.rows.layers.size()));
  }

  Status ack_kv_rows(const net::Received& r, int32_t seq, uint32_t n_layers) {
    net::Message out;
    out.seq_id = r.msg.seq_id;
    out.session_id = r.msg.session_id;
    out.epoch = r.msg.epoch;
    out.body = net::KvAck{seq, n_layers};
    return ep_->send(r.from, std::move(out));
  }

  // A move's pre-copied rows (KV_ROWS flagged PRECOPY), kept until the move's DEPLOY installs
  // the deployment they are for: the move's prepared one, which the head has seen built (it
  // starts the pre-copy after the DEPLOY_ACK). Checked now against its model and sizes, and
  // bounded by the KV cache of the whole model. A device outside the ring until this move has
  // no current deployment at all.
  Status stage(uint32_t session_id, uint32_t epoch, DecodedKvRows d) {
    // The building thread sends its DEPLOY_ACK just before it ends: a first piece can come
    // in between.
    if (prepared_ && prepared_->built.valid()) prepared_->built.wait_for(std::chrono::seconds(5));
    if (!prepared_ || !prepared_->ready() || prepared_->dims.n_ctx <= 0)
      return unavailable("pre-copied KV rows, but no deployment is prepared");
    if (session_id != prepared_->session_id)
      return invalid_argument("pre-copied KV rows of another session");
    const KvDims& hp = prepared_->dims;
    const graph::KvRows& rows = d.rows;
    if (rows.n_embd_kv != hp.n_embd_kv)
      return invalid_argument("pre-copied KV rows of width " + std::to_string(rows.n_embd_kv) +
                              ", but the model's is " + std::to_string(hp.n_embd_kv));
    if (rows.pos_begin + static_cast<int64_t>(rows.n_pos) > hp.n_ctx || d.kv_slot >= hp.max_seqs)
      return invalid_argument("pre-copied KV rows of positions [" + std::to_string(rows.pos_begin) +
                              ", " + std::to_string(rows.pos_begin + rows.n_pos) + ") or slot " +
                              std::to_string(d.kv_slot) + " do not fit " +
                              std::to_string(hp.max_seqs) + " sequences of " +
                              std::to_string(hp.n_ctx) + " positions");
    for (int l : rows.layers) {
      if (l >= hp.n_layer)
        return invalid_argument("pre-copied KV rows of layer " + std::to_string(l) +
                                ", but the model has " + std::to_string(hp.n_layer));
    }
    if (staged_.session_id != session_id || staged_.epoch != epoch) {
      staged_ = Staged{};
      staged_.session_id = session_id;
      staged_.epoch = epoch;
    }
    const size_t bytes = rows.data.size() * sizeof(float);
    const size_t limit = graph::KvCache::bytes_for(hp.n_layer, hp.n_embd_kv, hp.n_ctx, hp.max_seqs);
    if (staged_.bytes + bytes > limit)
      return out_of_memory("pre-copied KV rows exceed the KV cache of the whole model (" +
                           std::to_string(limit >> 20) + " MiB)");
    staged_.bytes += bytes;
    staged_.rows[d.seq].emplace_back(d.kv_slot, std::move(d.rows));
    return Status::ok();
  }

  // Writes the staged rows of the live sequences into a new deployment, in position order. A
  // piece that does not fit is left out: the move's delta then finds the hole and is refused,
  // and the head replays instead.
  void install_staged(DeviceNode& node, const std::vector<int32_t>& live) {
    for (int32_t seq : live) {
      auto it = staged_.rows.find(seq);
      if (it == staged_.rows.end()) continue;
      auto& pieces = it->second;
      std::stable_sort(pieces.begin(), pieces.end(), [](const auto& a, const auto& b) {
        return a.second.pos_begin < b.second.pos_begin;
      });
      for (const auto& [slot, rows] : pieces) {
        Status st = node.import_kv(seq, slot, rows);
        if (!st.is_ok()) {
          LL_LOG_WARN("worker %s: pre-copied KV rows of sequence %d left out: %s",
                      ep_->options().node_name.c_str(), seq, st.message().c_str());
          break;
        }
      }
    }
  }

  // STEP, SEQ_START and SEQ_END: only for the current deployment; older epochs are dropped.
  Status on_runtime(net::Received& r) {
    const std::string what = net::msg_type_name(r.msg.type());
    if (!dep_) {
      // A restarted worker receives what its peers queued for the process before it: stale.
      LL_LOG_INFO("worker %s: dropped %s from %s: not deployed", ep_->options().node_name.c_str(),
                  what.c_str(), r.from.to_string().c_str());
      return Status::ok();
    }
    LL_ASSIGN_OR_RETURN(bool current,
                        dep_->node->accepts(r.msg.epoch, what.c_str(), r.from.to_string()));
    if (!current) return Status::ok();
    switch (r.msg.type()) {
      case net::MsgType::kSeqStart:
        return on_seq_start(r);
      case net::MsgType::kSeqEnd:
        return on_seq_end(r);
      default:
        return on_step(r);
    }
  }

  Status on_seq_start(net::Received& r) {
    LL_RETURN_IF_ERROR(dep_->node->start_sequence(read_seq_start(r.msg)));
    if (dep_->node->is_tail()) return Status::ok();
    // Passed along the ring's sequential links, ahead of the sequence's first pass on each of
    // them, so the tail always has the sampler before the first logits (a start sent straight
    // to the tail could be overtaken by a late end of an earlier sequence, or by the pass).
    const int next = dep_->node->index() + 1;
    if (next >= static_cast<int>(dep_->device_names.size()))
      return invalid_argument("sequence start past the last device");
    return send_to(dep_->device_names[next], std::move(r.msg));
  }

  Status on_seq_end(net::Received& r) {
    dep_->node->end_sequence(static_cast<int32_t>(r.msg.seq_id));
    // Passed on along the links this device's activations take (see NetRing::send_seq_end).
    for (int to : dep_->node->consumers())
      LL_RETURN_IF_ERROR(
          send_to(dep_->device_names[to], make_seq_end(static_cast<int32_t>(r.msg.seq_id))));
    return Status::ok();
  }

  Status send_to(const std::string& peer, net::Message m) {
    m.session_id = dep_->session_id;
    m.epoch = dep_->node->epoch();
    return ep_->send(net::PeerId::outgoing(peer), std::move(m));
  }

  Status on_step(net::Received& r) {
    LL_ASSIGN_OR_RETURN(DecodedStep d, read_step(r.msg, dep_->graph));
    for (auto& [id, data] : d.tensors)
      LL_RETURN_IF_ERROR(dep_->node->receive(r.msg.step, d.batch, id, std::move(data)));
    ThrottledOutbox out(this, dep_->node.get(), &throttle_);  // an emulated slower device
    return dep_->node->run_ready(&out);
  }

  Status send_tensors(int to, uint32_t step, const graph::Batch& batch,
                      TensorList tensors) override {
    return send_to(dep_->device_names[to], make_step(step, dep_->graph, batch, std::move(tensors)));
  }

  Status send_token(int32_t seq, uint32_t step, int32_t token, uint64_t rng_state) override {
    net::Message m;
    m.session_id = dep_->session_id;
    m.epoch = dep_->node->epoch();
    m.seq_id = static_cast<uint32_t>(seq);
    m.step = step;
    m.body = net::Token{token, rng_state};
    return ep_->send(net::PeerId::incoming(dep_->head_name), std::move(m));
  }

  Status send_scores(int32_t seq, uint32_t step, std::vector<double> log_probs) override {
    net::Message m = make_scores(seq, step, std::move(log_probs));
    m.session_id = dep_->session_id;
    m.epoch = dep_->node->epoch();
    return ep_->send(net::PeerId::incoming(dep_->head_name), std::move(m));
  }

  // One outgoing link per peer address, kept across deployments.
  Status link_to(const std::string& addr) {
    if (linked_.count(addr)) return Status::ok();
    auto c = ep_->connect(addr, addr);
    if (!c.is_ok()) return c.status();
    linked_.insert(addr);
    return Status::ok();
  }

  const WorkerOptions& o_;
  net::Endpoint* ep_;
  std::set<std::string> linked_;
  std::string own_hash_;
  std::unique_ptr<Deployment> dep_;
  // What pre-copied rows are checked against (stage()).
  struct KvDims {
    int n_layer = 0;
    int64_t n_embd_kv = 0;
    int n_ctx = 0, max_seqs = 0;
  };
  struct Prepared {
    nlohmann::json key;
    uint32_t session_id = 0;
    KvDims dims;  // written by the building thread before `built` is ready; n_ctx 0 on failure
    std::future<Result<std::unique_ptr<Deployment>>> built;
    bool ready() const {
      return built.valid() && built.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    }
  };
  std::unique_ptr<Prepared> prepared_;  // declared after dep_: joined before it goes
  struct Staged {
    uint32_t session_id = 0, epoch = 0;  // of the deployment they were taken under
    std::map<int32_t, std::vector<std::pair<int, graph::KvRows>>> rows;  // by sequence: slot, rows
    size_t bytes = 0;
  };
  Staged staged_;
  Throttle throttle_;
  struct FileCloser {
    void operator()(FILE* f) const { std::fclose(f); }
  };
  std::map<std::string, std::unique_ptr<FILE, FileCloser>> partial_;
  bool shutdown_ = false;
};

// A DEPLOY that replaces the deployment now; one that prepares a move's does not.
bool replaces_deployment(const net::Message& m) {
  const net::Deploy* d = m.as<net::Deploy>();
  if (!d) return false;
  auto j = nlohmann::json::parse(d->json, nullptr, false);
  return !(j.is_object() && j.value("prepare", false));
}

}  // namespace

Status run_worker(const WorkerOptions& o, const std::atomic<bool>& stop, std::string* bound_address,
                  const std::function<void(const std::string&)>& on_listening) {
  net::EndpointOptions eo;
  // Node names route messages, so they must be unique: host and pid unless given.
  char host[64] = "host";
  gethostname(host, sizeof host - 1);
  eo.node_name =
      o.name.empty() ? "worker-" + std::string(host) + "-" + std::to_string(getpid()) : o.name;
  eo.role = net::Role::kWorker;
  eo.insecure = o.insecure;
  eo.cluster_key = o.key;
  eo.added_latency_s = o.added_latency_s;
  eo.bandwidth_bytes_per_s = o.bandwidth_bytes_per_s;
  eo.latency_p95_s = o.latency_p95_s;
  eo.loss_rate = o.loss_rate;
  LL_ASSIGN_OR_RETURN(auto ep, net::Endpoint::create(eo));
  LL_ASSIGN_OR_RETURN(std::string addr, ep->bind(o.listen));
  if (bound_address) *bound_address = addr;
  Worker w(o, ep.get());
  LL_RETURN_IF_ERROR(w.init());
  LL_LOG_INFO("worker %s listening on %s", eo.node_name.c_str(), addr.c_str());
  if (on_listening) on_listening(addr);
  size_t n_rejections = 0;
  // Refused peers (wrong cluster key) are always reported: an operator must see them, also
  // the ones refused just before a stop.
  auto report_rejections = [&] {
    const auto rej = ep->rejections();
    for (; n_rejections < rej.size(); ++n_rejections)
      std::fprintf(stderr, "worker %s: %s\n", eo.node_name.c_str(), rej[n_rejections].c_str());
  };
  std::vector<net::Received> batch;
  while (!stop && !w.shutdown()) {
    report_rejections();
    auto r = ep->recv(0.2);
    if (!r.is_ok()) {
      if (r.status().code() == StatusCode::kUnavailable) continue;  // timeout
      return r.status();
    }
    // Everything already received, at once: a DEPLOY (a failover or a move) replaces the
    // deployment, so the passes queued ahead of it are stale and need not be computed first.
    batch.clear();
    batch.push_back(std::move(*r));
    while (batch.size() < 4096) {
      auto more = ep->recv(0);
      if (!more.is_ok()) break;
      batch.push_back(std::move(*more));
    }
    size_t deploy_at = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (replaces_deployment(batch[i].msg)) deploy_at = i;
    }
    size_t skipped = 0;
    for (size_t i = 0; i < batch.size() && !w.shutdown(); ++i) {
      const net::MsgType t = batch[i].msg.type();
      const bool runtime =
          t == net::MsgType::kStep || t == net::MsgType::kSeqStart || t == net::MsgType::kSeqEnd;
      if (i < deploy_at && runtime) {
        ++skipped;
        continue;
      }
      w.handle(batch[i]);
    }
    if (skipped > 0)
      LL_LOG_INFO("worker %s: skipped %zu passes queued ahead of a new deployment",
                  eo.node_name.c_str(), skipped);
  }
  report_rejections();
  ep->close();
  return Status::ok();
}

}  // namespace ll::runtime
