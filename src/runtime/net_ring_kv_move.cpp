// A move of work between devices without replaying (docs/balance.md, "Moving"). The switch
// happens at a pass boundary: the passes in flight are drained (their tokens arrive and wait),
// then the KV rows of every layer whose owner changes are taken from the old owner for every
// live sequence, the new layout is deployed under a new epoch with "keep" (a device whose op
// range stays keeps its deployment, KV rows and samplers; one whose range changes keeps the
// rows of the layers it still runs), the taken rows go to their new owners, and the samplers
// restart from the sequence table. No row is recomputed, so tokens are those of an
// undisturbed run; any error leaves the caller to replay every sequence instead.
#include <map>

#include "graph/op_table.h"
#include "runtime/net_ring.h"
#include "runtime/wire.h"

namespace ll::runtime {

namespace {

constexpr double kDrainTimeoutS = 10;
constexpr double kKvReplyTimeoutS = 30;

}  // namespace

int NetRing::owner_of(const RingLayout& layout, int node) {
  for (int i = 0; i < layout.size(); ++i) {
    if (node >= layout.devices[i].node_begin && node < layout.devices[i].node_end) return i;
  }
  return -1;
}

Status NetRing::ask_moved_kv(const RingLayout& from, const RingLayout& to,
                             const std::vector<SeqRecord>& live, std::vector<KvTransfer>* out,
                             std::vector<KvAsk>* asked) {
  // Runs of consecutive layers with the same old and new owner, where the owner changes.
  struct Run {
    int from_dev, to_dev, layer_begin, layer_end;
  };
  std::vector<Run> runs;
  for (int n = 0; n < static_cast<int>(m_.graph.nodes.size()); ++n) {
    const graph::Node& node = m_.graph.nodes[n];
    if (!graph::op_def(node.op).uses_kv) continue;
    const int a = owner_of(from, n), b = owner_of(to, n);
    if (a < 0 || b < 0) return internal_error("a layout does not cover op " + std::to_string(n));
    if (from.devices[a].name == to.devices[b].name) continue;  // kept where it is
    if (!runs.empty() && runs.back().from_dev == a && runs.back().to_dev == b &&
        runs.back().layer_end == node.layer) {
      runs.back().layer_end = node.layer + 1;
    } else {
      runs.push_back({a, b, node.layer, node.layer + 1});
    }
  }
  for (const Run& run : runs) {
    for (const SeqRecord& rec : live) {
      const int n_pos = replay_.n_positions(rec.id);
      if (n_pos < 0)
        return unavailable("sequence " + std::to_string(rec.id) + " fed non-contiguous positions");
      if (n_pos == 0) continue;
      KvTransfer t;
      t.to = to.devices[run.to_dev].name;
      t.seq = rec.id;
      t.kv_slot = rec.kv_slot.empty() ? -1 : rec.kv_slot[0];
      if (run.from_dev == 0) {  // the head's own rows
        LL_ASSIGN_OR_RETURN(t.rows,
                            node_->export_kv(rec.id, run.layer_begin, run.layer_end, n_pos));
        out->push_back(std::move(t));
        continue;
      }
      net::Message m;
      m.seq_id = next_request_.fetch_add(1);
      m.body = net::KvExport{rec.id, run.layer_begin, run.layer_end, static_cast<uint32_t>(n_pos)};
      {
        std::lock_guard<std::mutex> lock(rx_mu_);
        kv_reqs_.insert(m.seq_id);
      }
      asked->push_back({m.seq_id, from.devices[run.from_dev].name, out->size()});
      out->push_back(std::move(t));
      LL_RETURN_IF_ERROR(send_to(asked->back().peer, std::move(m)));
    }
  }
  return Status::ok();
}

Status NetRing::collect_moved_kv(const std::vector<KvAsk>& asked, std::vector<KvTransfer>* out) {
  for (const KvAsk& a : asked) {
    LL_ASSIGN_OR_RETURN(net::Received r,
                        wait_reply(a.peer, net::MsgType::kKvRows, a.req, kKvReplyTimeoutS));
    LL_ASSIGN_OR_RETURN(DecodedKvRows d, read_kv_rows(r.msg));
    if (d.seq != (*out)[a.index].seq)
      return corrupt("device " + shown_name_of(a.peer) + " sent KV rows of another sequence");
    (*out)[a.index].rows = std::move(d.rows);
  }
  return Status::ok();
}

Status NetRing::import_moved_kv(std::vector<KvTransfer> transfers) {
  struct Asked {
    uint32_t req;
    std::string peer;
  };
  std::vector<Asked> asked;
  bool fault = o_.kv_fault_for_test;
  for (KvTransfer& t : transfers) {
    if (t.to == o_.name) {
      LL_RETURN_IF_ERROR(node_->import_kv(t.seq, t.kv_slot, t.rows));
      continue;
    }
    if (fault && !t.rows.layers.empty()) {
      t.rows.layers[0] = 1 << 20;  // a layer nobody runs: the receiver refuses the rows
      fault = false;
    }
    net::Message m = make_kv_rows(t.seq, t.kv_slot, std::move(t.rows));
    m.seq_id = next_request_.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(rx_mu_);
      kv_reqs_.insert(m.seq_id);
    }
    asked.push_back({m.seq_id, t.to});
    LL_RETURN_IF_ERROR(send_to(t.to, std::move(m)));
  }
  for (const Asked& a : asked) {
    LL_RETURN_IF_ERROR(wait_reply(a.peer, net::MsgType::kKvAck, a.req, kKvReplyTimeoutS).status());
  }
  return Status::ok();
}

Status NetRing::move_kv(const RingLayout& layout, MoveRecord* rec) {
  double t = clock().now_s();
  LL_RETURN_IF_ERROR(drain(kDrainTimeoutS));
  rec->drain_s = clock().now_s() - t;
  const RingLayout before = layout_;
  t = clock().now_s();
  std::vector<SeqRecord> live = live_records(layout.size());
  std::vector<KvTransfer> transfers;
  std::vector<KvAsk> asked;
  LL_RETURN_IF_ERROR(ask_moved_kv(before, layout, live, &transfers, &asked));
  rec->kv_export_s = clock().now_s() - t;
  // The DEPLOYs follow the KV_EXPORTs on the same links, so each old deployment answers
  // before it is replaced, and the rows travel while the new layout is installed.
  t = clock().now_s();
  LL_RETURN_IF_ERROR(deploy(layout, epoch_ + 1, /*keep_tokens=*/true, /*keep_state=*/true));
  rec->deploy_s = clock().now_s() - t;
  t = clock().now_s();
  LL_RETURN_IF_ERROR(collect_moved_kv(asked, &transfers));
  rec->kv_export_s += clock().now_s() - t;
  for (const KvTransfer& x : transfers) rec->kv_bytes += x.rows.data.size() * sizeof(float);
  rec->deploy_rtt_s = deploy_rtt_s_;
  rec->stats_s = deploy_stats_s_;
  rec->deploy_send_s = deploy_send_s_;
  rec->head_node_s = deploy_head_s_;
  rec->n_kept = deploy_kept_;
  rec->n_prepared = deploy_prepared_;
  t = clock().now_s();
  LL_RETURN_IF_ERROR(import_moved_kv(std::move(transfers)));
  replay_.forget_passes();  // drained: none of the old layout is owed
  for (const SeqRecord& r : live) LL_RETURN_IF_ERROR(send_seq_start(r));
  rec->kv_import_s = clock().now_s() - t;
  rec->n_seqs = static_cast<int>(live.size());
  rec->mode = "kv";
  std::lock_guard<std::mutex> lock(rx_mu_);
  kv_reqs_.clear();
  return Status::ok();
}

}  // namespace ll::runtime
