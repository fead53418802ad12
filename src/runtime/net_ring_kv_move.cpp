// A move of work between devices without replaying (docs/balance.md, "Moving"). The switch
// happens at a pass boundary: the passes in flight are drained (their tokens arrive and wait),
// then the KV rows of every layer whose owner changes are taken from the old owner for every
// live sequence, the new layout is deployed under a new epoch with "keep" (a device whose op
// range stays keeps its deployment, KV rows and samplers; one whose range changes keeps the
// rows of the layers it still runs), the taken rows go to their new owners, and the samplers
// restart from the sequence table. No row is recomputed, so tokens are those of an
// undisturbed run; any error leaves the caller to replay every sequence instead.
#include <algorithm>
#include <map>
#include <set>

#include "core/log.h"
#include "graph/op_table.h"
#include "runtime/net_ring.h"
#include "runtime/wire.h"

namespace ll::runtime {

namespace {

constexpr double kDrainTimeoutS = 10;
constexpr double kKvReplyTimeoutS = 30;
// Pre-copy: pieces of about this size, this many in flight, and given up (the switch then
// moves what is left whole) after this long.
constexpr size_t kPrecopyPieceBytes = 4u << 20;
constexpr size_t kPrecopyInFlight = 3;
constexpr double kPrecopyTimeoutS = 20;

}  // namespace

int NetRing::owner_of(const RingLayout& layout, int node) {
  for (int i = 0; i < layout.size(); ++i) {
    if (node >= layout.devices[i].node_begin && node < layout.devices[i].node_end) return i;
  }
  return -1;
}

Result<std::vector<NetRing::KvRun>> NetRing::moved_runs(const RingLayout& from,
                                                        const RingLayout& to) const {
  std::vector<KvRun> runs;
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
  return runs;
}

Status NetRing::ask_moved_kv(const RingLayout& from, const RingLayout& to,
                             const std::vector<SeqRecord>& live, const PreCopy* pre,
                             std::vector<KvTransfer>* out, std::vector<KvAsk>* asked,
                             MoveRecord* rec) {
  LL_ASSIGN_OR_RETURN(std::vector<KvRun> runs, moved_runs(from, to));
  // Positions [0, n) the pre-copy placed at the new owner, by run and sequence. Only a
  // pre-copy of this very switch counts (same layouts, same epoch: no failover between).
  std::map<std::pair<int, int32_t>, int> placed;
  std::set<int32_t> precopied;
  if (pre && pre->epoch == epoch_ && pre->from.devices == from.devices &&
      pre->to.devices == to.devices) {
    for (const PreCopy::Item& it : pre->items) {
      if (it.placed > 0) placed[{it.run, it.seq}] = it.placed;
      precopied.insert(it.seq);
    }
  }
  std::set<int32_t> live_ids;
  for (const SeqRecord& r : live) live_ids.insert(r.id);
  for (int32_t seq : precopied) rec->precopy_ended += !live_ids.count(seq);
  std::set<int32_t> fresh;
  for (size_t ri = 0; ri < runs.size(); ++ri) {
    const KvRun& run = runs[ri];
    for (const SeqRecord& r : live) {
      const int n_pos = replay_.n_positions(r.id);
      if (n_pos < 0)
        return unavailable("sequence " + std::to_string(r.id) + " fed non-contiguous positions");
      auto p = placed.find({static_cast<int>(ri), r.id});
      // Never more than was fed: a sequence's rows only grow while it lives.
      const int begin = p == placed.end() || p->second > n_pos ? 0 : p->second;
      if (begin == 0 && n_pos > 0) fresh.insert(r.id);
      if (n_pos == 0) continue;
      KvTransfer t;
      t.to = to.devices[run.to_dev].name;
      t.seq = r.id;
      t.kv_slot = r.kv_slot.empty() ? -1 : r.kv_slot[0];
      if (run.from_dev == 0) {  // the head's own rows
        LL_ASSIGN_OR_RETURN(
            t.rows, begin == 0 ? node_->export_kv(r.id, run.layer_begin, run.layer_end, n_pos)
                               : node_->export_kv_range(r.id, run.layer_begin, run.layer_end, begin,
                                                        n_pos));
        out->push_back(std::move(t));
        continue;
      }
      net::Message m;
      m.seq_id = next_request_.fetch_add(1);
      net::KvExport e{r.id, run.layer_begin, run.layer_end, static_cast<uint32_t>(n_pos)};
      // From the pre-copied prefix on (even none: the old owner confirms it has them all,
      // and the new owner checks the prefix is there).
      e.ranged = begin > 0;
      e.pos_begin = static_cast<uint32_t>(begin);
      m.body = e;
      {
        std::lock_guard<std::mutex> lock(rx_mu_);
        kv_reqs_.insert(m.seq_id);
      }
      asked->push_back({m.seq_id, from.devices[run.from_dev].name, out->size()});
      out->push_back(std::move(t));
      LL_RETURN_IF_ERROR(send_to(asked->back().peer, std::move(m)));
    }
  }
  rec->precopy_fresh = static_cast<int>(fresh.size());
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

Status NetRing::move_kv(const RingLayout& layout, MoveRecord* rec, std::optional<PreCopy> pre) {
  if (pre) {
    rec->precopy_s = (pre->done() ? pre->done_s : clock().now_s()) - pre->started_s;
    rec->precopy_bytes = pre->bytes;
  }
  double t = clock().now_s();
  LL_RETURN_IF_ERROR(drain(kDrainTimeoutS));
  rec->drain_s = clock().now_s() - t;
  const RingLayout before = layout_;
  // Only a pre-copy of this very switch counts (same layouts, same epoch: no failover between);
  // rows taken for another layout are neither trusted at the new owners nor imported here.
  if (pre && !(pre->epoch == epoch_ && pre->from.devices == before.devices &&
               pre->to.devices == layout.devices))
    pre.reset();
  t = clock().now_s();
  std::vector<SeqRecord> live = live_records(layout.size());
  std::vector<KvTransfer> transfers;
  std::vector<KvAsk> asked;
  LL_RETURN_IF_ERROR(
      ask_moved_kv(before, layout, live, pre ? &*pre : nullptr, &transfers, &asked, rec));
  rec->kv_export_s = clock().now_s() - t;
  // The DEPLOYs follow the KV_EXPORTs on the same links, so each old deployment answers
  // before it is replaced, and the rows travel while the new layout is installed.
  t = clock().now_s();
  LL_RETURN_IF_ERROR(deploy(layout, epoch_ + 1, /*keep_tokens=*/true, /*keep_state=*/true));
  rec->deploy_s = clock().now_s() - t;
  t = clock().now_s();
  LL_RETURN_IF_ERROR(collect_moved_kv(asked, &transfers));
  rec->kv_export_s += clock().now_s() - t;
  for (const KvTransfer& x : transfers) {
    rec->kv_bytes += x.rows.data.size() * sizeof(float);
    rec->kv_full_bytes += static_cast<size_t>(x.rows.pos_begin + x.rows.n_pos) * 2 *
                          x.rows.n_embd_kv * x.rows.layers.size() * sizeof(float);
  }
  rec->deploy_rtt_s = deploy_rtt_s_;
  rec->stats_s = deploy_stats_s_;
  rec->deploy_send_s = deploy_send_s_;
  rec->head_node_s = deploy_head_s_;
  rec->n_kept = deploy_kept_;
  rec->n_prepared = deploy_prepared_;
  t = clock().now_s();
  // The head's pre-copied pieces first (its node is new since deploy()), then every delta.
  if (pre) {
    std::set<int32_t> live_ids;
    for (const SeqRecord& r : live) live_ids.insert(r.id);
    std::stable_sort(pre->local.begin(), pre->local.end(), [](const auto& a, const auto& b) {
      return a.rows.pos_begin < b.rows.pos_begin;
    });
    for (const KvTransfer& x : pre->local) {
      if (live_ids.count(x.seq)) LL_RETURN_IF_ERROR(node_->import_kv(x.seq, x.kv_slot, x.rows));
    }
  }
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

std::optional<net::Received> NetRing::take_reply(const std::string& peer, uint32_t req) {
  std::lock_guard<std::mutex> lock(rx_mu_);
  for (auto it = replies_.begin(); it != replies_.end(); ++it) {
    if (it->from.name == peer && it->msg.seq_id == req) {
      net::Received r = std::move(*it);
      replies_.erase(it);
      return r;
    }
  }
  return std::nullopt;
}

Result<NetRing::PreCopy> NetRing::start_precopy(const RingLayout& layout) {
  PreCopy p;
  p.from = layout_;
  p.to = layout;
  p.epoch = epoch_;
  p.started_s = clock().now_s();
  LL_ASSIGN_OR_RETURN(p.runs, moved_runs(layout_, layout));
  for (size_t ri = 0; ri < p.runs.size(); ++ri) {
    for (const SeqRecord& rec : sequences().live()) {
      // What every device has computed: the tokens of those passes came back.
      const int n = std::min(replay_.answered_positions(rec.id), replay_.n_positions(rec.id));
      if (n <= 0) continue;
      PreCopy::Item it;
      it.run = static_cast<int>(ri);
      it.seq = rec.id;
      it.kv_slot = rec.kv_slot.empty() ? -1 : rec.kv_slot[0];
      it.n_pre = n;
      p.items.push_back(it);
    }
  }
  if (p.items.empty()) p.done_s = clock().now_s();
  return p;
}

// One piece of an item: positions [placed, placed + chunk), the chunk a few MiB, so a worker
// serves passes between pieces (it handles its messages one at a time).
Status NetRing::precopy_launch(PreCopy& p, size_t item) {
  PreCopy::Item& it = p.items[item];
  const KvRun& run = p.runs[it.run];
  const size_t pos_bytes = static_cast<size_t>(run.layer_end - run.layer_begin) * 2 *
                           m_.graph.hp.n_embd_kv() * sizeof(float);
  const int chunk = static_cast<int>(std::max<size_t>(1, kPrecopyPieceBytes / pos_bytes));
  PreCopy::Op op;
  op.item = item;
  op.pos_begin = it.placed;
  op.pos_end = std::min(it.n_pre, it.placed + chunk);
  if (run.from_dev == 0) {  // the head's own rows: taken now, sent to the new owner
    LL_ASSIGN_OR_RETURN(
        graph::KvRows rows,
        node_->export_kv_range(it.seq, run.layer_begin, run.layer_end, op.pos_begin, op.pos_end));
    op.staging = true;
    op.peer = p.to.devices[run.to_dev].name;
    op.bytes = rows.data.size() * sizeof(float);
    net::Message m = make_kv_rows(it.seq, it.kv_slot, std::move(rows));
    m.flags |= net::kFlagPrecopy;
    m.seq_id = op.req = next_request_.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(rx_mu_);
      kv_reqs_.insert(op.req);
    }
    LL_RETURN_IF_ERROR(send_to(op.peer, std::move(m)));
  } else {
    op.peer = p.from.devices[run.from_dev].name;
    net::KvExport e{it.seq, run.layer_begin, run.layer_end, static_cast<uint32_t>(op.pos_end)};
    e.ranged = true;
    e.pos_begin = static_cast<uint32_t>(op.pos_begin);
    net::Message m;
    m.body = e;
    m.seq_id = op.req = next_request_.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(rx_mu_);
      kv_reqs_.insert(op.req);
    }
    LL_RETURN_IF_ERROR(send_to(op.peer, std::move(m)));
  }
  it.busy = true;
  p.ops.push_back(std::move(op));
  return Status::ok();
}

void NetRing::advance_precopy(PreCopy& p) {
  if (p.done()) return;
  auto fail = [&](PreCopy::Item& it, const std::string& why) {
    // Not an error of the move: the switch moves this sequence's rows whole.
    if (!it.failed)
      LL_LOG_INFO("head: pre-copy of sequence %d left to the switch: %s", it.seq, why.c_str());
    it.failed = true;
    it.busy = false;
  };
  // The ring changed under it (a failover): whatever was placed belongs to another layout.
  if (p.epoch != epoch_ || clock().now_s() - p.started_s > kPrecopyTimeoutS) {
    for (PreCopy::Item& it : p.items) fail(it, "the ring changed, or the pre-copy took too long");
    {
      // Their answers may still come: dropped on arrival, so no later wait for a reply of
      // the same device takes a late refusal for its own.
      std::lock_guard<std::mutex> lock(rx_mu_);
      if (abandoned_reqs_.size() > 64) abandoned_reqs_.clear();  // answers that never came
      for (const PreCopy::Op& op : p.ops) abandoned_reqs_.insert(op.req);
      for (auto it = replies_.begin(); it != replies_.end();)
        it = abandoned_reqs_.count(it->msg.seq_id) ? replies_.erase(it) : std::next(it);
    }
    p.ops.clear();
    p.done_s = clock().now_s();
    return;
  }
  for (size_t k = 0; k < p.ops.size();) {
    PreCopy::Op& op = p.ops[k];
    PreCopy::Item& it = p.items[op.item];
    std::optional<net::Received> r = take_reply(op.peer, op.req);
    if (!r) {
      ++k;
      continue;
    }
    bool finished = true;
    if (const net::Error* e = r->msg.as<net::Error>()) {
      fail(it, "device " + shown_name_of(op.peer) + " refused: " + e->text);
    } else if (!op.staging) {  // the old owner's rows
      auto d = read_kv_rows(r->msg);
      if (!d.is_ok() || d->seq != it.seq || d->rows.pos_begin != op.pos_begin ||
          d->rows.n_pos != op.pos_end - op.pos_begin) {
        fail(it, "device " + shown_name_of(op.peer) + " sent other rows than asked for");
      } else if (p.runs[it.run].to_dev == 0) {  // for the head: kept until the switch
        p.bytes += d->rows.data.size() * sizeof(float);
        p.local.push_back({o_.name, it.seq, it.kv_slot, std::move(d->rows)});
        it.placed = op.pos_end;
        it.busy = false;
      } else {  // on to the new owner, which keeps them for its next deployment
        op.bytes = d->rows.data.size() * sizeof(float);
        net::Message m = make_kv_rows(it.seq, it.kv_slot, std::move(d->rows));
        m.flags |= net::kFlagPrecopy;
        m.seq_id = op.req = next_request_.fetch_add(1);
        {
          std::lock_guard<std::mutex> lock(rx_mu_);
          kv_reqs_.insert(op.req);
        }
        op.staging = true;
        op.peer = p.to.devices[p.runs[it.run].to_dev].name;
        Status st = send_to(op.peer, std::move(m));
        if (st.is_ok()) {
          finished = false;
        } else {
          fail(it, st.message());
        }
      }
    } else if (r->msg.type() == net::MsgType::kKvAck) {  // placed
      p.bytes += op.bytes;
      it.placed = op.pos_end;
      it.busy = false;
    } else {
      fail(it, "unexpected " + net::msg_type_name(r->msg.type()));
    }
    if (finished) {
      p.ops.erase(p.ops.begin() + static_cast<std::ptrdiff_t>(k));
    } else {
      ++k;
    }
  }
  // Next pieces, round robin over the items, a few in flight.
  for (size_t tried = 0; tried < p.items.size() && p.ops.size() < kPrecopyInFlight; ++tried) {
    const size_t i = p.next;
    p.next = (p.next + 1) % p.items.size();
    PreCopy::Item& it = p.items[i];
    if (it.failed || it.busy || it.placed >= it.n_pre) continue;
    Status st = precopy_launch(p, i);
    if (!st.is_ok()) fail(it, st.message());
  }
  bool left = !p.ops.empty();
  for (const PreCopy::Item& it : p.items) left = left || (!it.failed && it.placed < it.n_pre);
  if (!left) p.done_s = clock().now_s();
}

}  // namespace ll::runtime
