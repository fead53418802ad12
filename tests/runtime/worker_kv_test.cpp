// A worker's answers to a move's KV requests (docs/protocol.md, "Moving KV rows"), asked by a
// bare endpoint standing in for the head: a ranged KV_EXPORT is refused, with an error naming
// the problem, for positions not computed yet or a sequence the worker does not know; rows
// are taken from any position; pre-copied rows that do not fit are refused; and a delta whose
// prefix never arrived is refused rather than leaving a hole.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "graph/segment.h"
#include "net_fixture.h"
#include "runtime/wire.h"

namespace ll::runtime {
namespace {

using testing::Fixture;

// The head's side of one worker, deployed as the tail from op 1 on (both attention layers).
class BareHead {
 public:
  explicit BareHead(Fixture& f) : f_(f), worker_(f.workers[0]->address) {}

  // prepare: a move's DEPLOY, built and acked but not installed (pre-copied rows are for it);
  // live: the move's switch (keep, with these sequences live).
  Status deploy(bool prepare = false, const std::vector<int32_t>* live = nullptr) {
    if (!ep_) {
      net::EndpointOptions eo;
      eo.node_name = "bare-head";
      eo.role = net::Role::kHead;
      eo.insecure = true;
      LL_ASSIGN_OR_RETURN(ep_, net::Endpoint::create(eo));
      LL_RETURN_IF_ERROR(ep_->connect(worker_, worker_).status());
    }
    LL_ASSIGN_OR_RETURN(std::string hash, file_content_hash(f_.path, f_.cache));
    nlohmann::json dj = {
        {"me", 1},
        {"head", "bare-head"},
        {"devices",
         {{{"name", "bare-head"}, {"address", ""}}, {{"name", worker_}, {"address", worker_}}}},
        {"cuts", {1}},
        {"n_ctx", 64},
        {"max_seqs", 2},
        {"weights", {{"kind", "own"}}},
        {"model_hash", hash}};
    if (prepare) dj["prepare"] = true;
    if (live) {
      dj["keep"] = true;
      dj["live"] = *live;
    }
    net::Message m;
    m.body = net::Deploy{dj.dump(), {}};
    LL_ASSIGN_OR_RETURN(net::Received r, request(std::move(m)));
    if (r.msg.type() != net::MsgType::kDeployAck) return internal_error("DEPLOY not acked");
    return Status::ok();
  }

  // Sequence `seq` fed positions [0, n) in one pass; waits for its token.
  Status feed(int32_t seq, int n) {
    SeqStartInfo s;
    s.seq = seq;
    s.kv_slot = 0;
    net::Message start = make_seq_start(s);
    LL_RETURN_IF_ERROR(send(std::move(start)));
    const graph::Graph& g = f_.model->graph;
    LL_ASSIGN_OR_RETURN(graph::Segmentation seg, graph::segment_at(g, {1}));
    const graph::TransmissionMap map = graph::build_map(g, seg);
    graph::Batch b;
    for (int p = 0; p < n; ++p) b.add(1 + p, p, seq, p == n - 1);
    TensorList tensors;
    for (int t : map.inputs[1]) {
      if (t == g.tokens) continue;
      const int rows = g.tensors[t].selected ? b.n_out() : b.n_rows();
      std::vector<float> data(static_cast<size_t>(g.tensors[t].width) * rows);  // [rows][width]
      for (size_t i = 0; i < data.size(); ++i) data[i] = 0.01f * static_cast<float>(i % 97);
      tensors.emplace_back(t, std::move(data));
    }
    LL_RETURN_IF_ERROR(send(make_step(1, g, b, std::move(tensors))));
    while (true) {  // the tail's token: every position is computed
      LL_ASSIGN_OR_RETURN(net::Received r, ep_->recv(20));
      if (r.msg.type() == net::MsgType::kToken) return Status::ok();
      if (const net::Error* e = r.msg.as<net::Error>()) return internal_error(e->text);
    }
  }

  // The reply to `m` (an ERROR answers too).
  Result<net::Received> request(net::Message m) {
    const uint32_t req = m.seq_id = next_req_++;
    LL_RETURN_IF_ERROR(send(std::move(m)));
    while (true) {
      LL_ASSIGN_OR_RETURN(net::Received r, ep_->recv(20));
      if (r.msg.seq_id == req && r.msg.type() != net::MsgType::kHello) return r;
    }
  }

  Result<net::Received> export_range(int32_t seq, uint32_t pos_begin, uint32_t pos_end) {
    net::KvExport e{seq, 0, 2, pos_end};
    e.ranged = true;
    e.pos_begin = pos_begin;
    net::Message m;
    m.body = e;
    return request(std::move(m));
  }

 private:
  Status send(net::Message m) {
    m.session_id = 42;
    m.epoch = epoch;
    return ep_->send(net::PeerId::outgoing(worker_), std::move(m));
  }

 public:
  uint32_t epoch = 1;  // of every message sent

 private:
  Fixture& f_;
  std::string worker_;
  std::unique_ptr<net::Endpoint> ep_;
  uint32_t next_req_ = 1;
};

std::string error_text(const net::Received& r) {
  const net::Error* e = r.msg.as<net::Error>();
  return e ? e->text : "(no error: " + net::msg_type_name(r.msg.type()) + ")";
}

TEST(WorkerKv, RangedExportOfPositionsNotComputedOrAnUnknownSequenceIsRefused) {
  Fixture f(1);
  BareHead head(f);
  ASSERT_TRUE(head.deploy().is_ok());
  ASSERT_TRUE(head.feed(7, 5).is_ok());

  auto ahead = head.export_range(7, 2, 9);  // positions 5..8 are not computed
  ASSERT_TRUE(ahead.is_ok()) << ahead.status().to_string();
  EXPECT_NE(error_text(*ahead).find("has computed 5 positions of sequence 7, not yet 9"),
            std::string::npos)
      << error_text(*ahead);

  auto unknown = head.export_range(8, 0, 1);
  ASSERT_TRUE(unknown.is_ok());
  EXPECT_NE(error_text(*unknown).find("has no rows of sequence 8"), std::string::npos)
      << error_text(*unknown);

  // Positions [2, 5) of both layers: ranged rows, three positions.
  auto rows = head.export_range(7, 2, 5);
  ASSERT_TRUE(rows.is_ok());
  ASSERT_EQ(rows->msg.type(), net::MsgType::kKvRows) << error_text(*rows);
  auto d = read_kv_rows(rows->msg);
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->seq, 7);
  EXPECT_EQ(d->rows.pos_begin, 2);
  EXPECT_EQ(d->rows.n_pos, 3);
  EXPECT_EQ(d->rows.layers, (std::vector<int>{0, 1}));
  bool nonzero = false;
  for (float x : d->rows.data) nonzero = nonzero || x != 0;
  EXPECT_TRUE(nonzero);  // computed rows, not an empty slot
}

TEST(WorkerKv, PrecopiedRowsThatDoNotFitAndDeltasWithoutTheirPrefixAreRefused) {
  Fixture f(1);
  BareHead head(f);
  const int n_embd_kv = f.model->graph.hp.n_embd_kv();
  auto rows_msg = [&](int32_t seq, int pos_begin, int n_pos, int layer, bool precopy) {
    graph::KvRows r;
    r.pos_begin = pos_begin;
    r.n_pos = n_pos;
    r.n_embd_kv = n_embd_kv;
    r.layers = {layer};
    r.data.assign(static_cast<size_t>(2) * n_pos * n_embd_kv, 1.5f);  // [1][k|v][n_pos][width]
    net::Message m = make_kv_rows(seq, 1, std::move(r));
    if (precopy) m.flags |= net::kFlagPrecopy;
    return m;
  };
  // Deployed, but no move prepared: nowhere to put them.
  ASSERT_TRUE(head.deploy().is_ok());
  auto early = head.request(rows_msg(3, 0, 4, 0, true));
  ASSERT_TRUE(early.is_ok());
  EXPECT_NE(error_text(*early).find("no deployment is prepared"), std::string::npos)
      << error_text(*early);
  ASSERT_TRUE(head.deploy(/*prepare=*/true).is_ok());
  // Past the 64 positions of the prepared deployment.
  auto past = head.request(rows_msg(3, 60, 8, 0, true));
  ASSERT_TRUE(past.is_ok());
  EXPECT_NE(error_text(*past).find("do not fit 2 sequences of 64 positions"), std::string::npos)
      << error_text(*past);
  // A layer the model does not have.
  auto layer = head.request(rows_msg(3, 0, 4, 9, true));
  ASSERT_TRUE(layer.is_ok());
  EXPECT_NE(error_text(*layer).find("layer 9, but the model has 2"), std::string::npos)
      << error_text(*layer);
  // Rows that fit are kept for the next deployment.
  auto fits = head.request(rows_msg(3, 0, 4, 0, true));
  ASSERT_TRUE(fits.is_ok());
  EXPECT_EQ(fits->msg.type(), net::MsgType::kKvAck) << error_text(*fits);
  // A delta from position 4 of a sequence none of whose rows are here: refused, not a hole.
  auto delta = head.request(rows_msg(5, 4, 2, 1, false));
  ASSERT_TRUE(delta.is_ok());
  EXPECT_NE(error_text(*delta).find("from position 4, but only positions [0, 0) of it are here"),
            std::string::npos)
      << error_text(*delta);
}

TEST(WorkerKv, ADeviceNewToTheRingTakesPrecopiedRowsIntoItsFirstDeployment) {
  // A worker outside the ring (never deployed) joins it by a move: the rows pre-copied in
  // epoch 1, before the switch, are in its deployment of epoch 2.
  Fixture f(1);
  BareHead head(f);
  ASSERT_TRUE(head.deploy(/*prepare=*/true).is_ok());
  const int n_embd_kv = f.model->graph.hp.n_embd_kv();
  graph::KvRows r;
  r.pos_begin = 0;
  r.n_pos = 4;
  r.n_embd_kv = n_embd_kv;
  r.layers = {0, 1};
  r.data.resize(static_cast<size_t>(2) * 2 * 4 * n_embd_kv);  // [2][k|v][4][width]
  for (size_t i = 0; i < r.data.size(); ++i) r.data[i] = 0.25f * static_cast<float>(i % 13);
  const std::vector<float> sent = r.data;
  net::Message m = make_kv_rows(3, 1, std::move(r));
  m.flags |= net::kFlagPrecopy;
  auto staged = head.request(std::move(m));
  ASSERT_TRUE(staged.is_ok());
  ASSERT_EQ(staged->msg.type(), net::MsgType::kKvAck) << error_text(*staged);
  head.epoch = 2;
  const std::vector<int32_t> live = {3};
  ASSERT_TRUE(head.deploy(false, &live).is_ok());
  auto back = head.export_range(3, 0, 4);
  ASSERT_TRUE(back.is_ok());
  ASSERT_EQ(back->msg.type(), net::MsgType::kKvRows) << error_text(*back);
  auto d = read_kv_rows(back->msg);
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->rows.data, sent);
}

}  // namespace
}  // namespace ll::runtime
