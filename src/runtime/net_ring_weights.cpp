// Which weights each worker gets. A worker with the model file uses its own copy; one without
// gets a share: a GGUF with the weights of its ops, plus the boundary segments the planner's
// overlap plan preloads on it, so the balancer can move a boundary within them without
// shipping anything (docs/balance.md).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "core/mapped_file.h"
#include "gguf/gguf_writer.h"
#include "net/payload.h"
#include "plan/planner.h"
#include "runtime/net_ring.h"
#include "runtime/worker.h"

namespace ll::runtime {

namespace fs = std::filesystem;

// A GGUF holding only the weights of ops [ops.begin, ops.end), cached by content.
Result<std::string> NetRing::write_share(OpRange ops) {
  const graph::Graph& g = m_.graph;
  std::set<std::string> names;
  for (int n = ops.begin; n < ops.end; ++n) {
    for (const auto& wn : g.nodes[n].weights) names.insert(wn);
  }
  std::error_code ec;
  fs::create_directories(o_.cache_dir, ec);
  const std::string share = o_.cache_dir + "/share-" + model_hash_ + "-" +
                            std::to_string(ops.begin) + "-" + std::to_string(ops.end) + ".gguf";
  if (fs::exists(share)) return share;
  const std::string tmp = share + ".tmp" + std::to_string(getpid());
  LL_RETURN_IF_ERROR(gguf::write_subset(
      *m_.file, std::vector<std::string>(names.begin(), names.end()), tmp, [&](gguf::Writer& wr) {
        wr.set_u32("lingualinked.n_vocab", g.hp.n_vocab);
        wr.set_bool("lingualinked.tied_output", g.hp.tied_output);
      }));
  fs::rename(tmp, share);
  return share;
}

Result<nlohmann::json> NetRing::weights_for(const RingLayout& layout, int device, OpRange preload) {
  const RingDevice& dev = layout.devices[device];
  if (owns_model(dev.name)) return nlohmann::json{{"kind", "own"}};
  {
    // The first share shipped that covers the ops, so a device whose range stays gets the
    // same weights as before (and keeps its deployment).
    std::lock_guard<std::mutex> lock(held_mu_);
    for (const HeldShare& h : held_[dev.name]) {
      if (h.ops.covers(dev.node_begin, dev.node_end))
        return nlohmann::json{{"kind", "cache"}, {"key", h.key}};
    }
  }
  preload.begin = std::min(preload.begin, dev.node_begin);
  preload.end = std::max(preload.end, dev.node_end);
  LL_ASSIGN_OR_RETURN(std::string share, write_share(preload));
  LL_ASSIGN_OR_RETURN(std::string key, file_content_hash(share, o_.cache_dir));
  LL_RETURN_IF_ERROR(ship_weights(dev.name, share, key));
  std::lock_guard<std::mutex> lock(held_mu_);
  held_[dev.name].push_back({preload, key});
  return nlohmann::json{{"kind", "cache"}, {"key", key}};
}

bool NetRing::owns_model(const std::string& worker) const {
  for (size_t w = 0; w < wnames_.size(); ++w) {
    if (wnames_[w] == worker && wprofiles_[w].value("model_hash", "") == model_hash_) return true;
  }
  return false;
}

void NetRing::forget_held(const std::string& worker) {
  std::lock_guard<std::mutex> lock(held_mu_);
  held_.erase(worker);
}

std::vector<int> NetRing::assignment_of(const RingLayout& layout,
                                        const std::vector<int>& workers) const {
  std::vector<int> dev(fine_.size(), -1);
  for (int s = 0; s < fine_.size(); ++s) {
    for (const RingDevice& d : layout.devices) {
      if (fine_.begin(s) < d.node_begin || fine_.end(s) > d.node_end) continue;
      if (d.name == o_.name) dev[s] = 0;
      for (size_t k = 0; k < workers.size(); ++k) {
        if (wnames_[workers[k]] == d.name) dev[s] = static_cast<int>(k) + 1;
      }
    }
    if (dev[s] < 0) return {};
  }
  return dev;
}

std::vector<OpRange> NetRing::preload_ranges(const RingLayout& layout) {
  std::vector<OpRange> out;
  for (const RingDevice& d : layout.devices) out.push_back({d.node_begin, d.node_end});
  bool ships = false;  // only shares are widened: workers with the model file need nothing
  for (int i = 1; i < layout.size(); ++i) ships = ships || !owns_model(layout.devices[i].name);
  if (!ships || !o_.preload || o_.preload_per_side <= 0 || !ensure_model_profile().is_ok())
    return out;
  std::vector<int> workers;
  const plan::Cluster live = surviving_cluster(&workers);
  const std::vector<int> dev = assignment_of(layout, workers);
  if (dev.empty()) return out;  // a layout the planner cannot express: no overlap plan
  auto cost = plan::CostModel::build(*mp_, live, run_config());
  if (!cost.is_ok()) return out;
  for (const plan::OverlapEntry& e : plan::plan_overlap(*cost, *mp_, dev, o_.preload_per_side)) {
    const std::string name = e.preload_on == 0 ? o_.name : wnames_[workers[e.preload_on - 1]];
    for (int i = 0; i < layout.size(); ++i) {
      if (layout.devices[i].name != name) continue;
      out[i].begin = std::min(out[i].begin, fine_.begin(e.segment));
      out[i].end = std::max(out[i].end, fine_.end(e.segment));
    }
  }
  return out;
}

Status NetRing::ship_weights(const std::string& peer, const std::string& path,
                             const std::string& key) {
  LL_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> mf, MappedFile::open(path));
  net::Message q;
  q.body = net::WeightsQuery{{net::WeightRef{key, mf->size()}}};
  LL_ASSIGN_OR_RETURN(net::Received have,
                      request(peer, std::move(q), net::MsgType::kWeightsHave, 60));
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
    LL_RETURN_IF_ERROR(send_to(peer, std::move(c)));
    weight_bytes_sent_ += n;
    if (tty)
      std::fprintf(stderr, "\rsending weights to %s: %3d%%", peer.c_str(),
                   static_cast<int>(100.0 * (off + n) / mf->size()));
  }
  if (tty) std::fprintf(stderr, "\n");
  net::Message d;
  d.body = net::WeightsDone{key, mf->size()};
  LL_ASSIGN_OR_RETURN(net::Received done,
                      request(peer, std::move(d), net::MsgType::kWeightsHave, 600));
  for (const auto& k : done.msg.as<net::WeightsHave>()->keys) {
    if (k == key) return Status::ok();
  }
  return corrupt("worker " + peer + " did not confirm the weights");
}

}  // namespace ll::runtime
