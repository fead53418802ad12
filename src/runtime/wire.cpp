#include "runtime/wire.h"

#include "net/payload.h"

namespace ll::runtime {

namespace {
constexpr uint32_t kI32 = 26, kF64 = 28, kF32 = 0;

net::WireTensor tensor_i32(const std::string& name, std::vector<int32_t> v,
                           std::vector<int64_t> dims) {
  net::WireTensor t;
  t.name = name;
  t.dtype = kI32;
  t.dims = std::move(dims);
  t.data = net::payload_take(std::move(v));
  return t;
}
}  // namespace

net::Message make_step(uint32_t step, const graph::Graph& g, const graph::Batch& b,
                       TensorList tensors) {
  net::Step body;
  const int n = b.n_rows();
  std::vector<int32_t> meta(4 * n);
  for (int r = 0; r < n; ++r) {
    meta[r] = b.tokens[r];
    meta[n + r] = b.pos[r];
    meta[2 * n + r] = b.seq[r];
    meta[3 * n + r] = b.want_logits[r];
  }
  body.tensors.push_back(tensor_i32("__batch", std::move(meta), {n, 4}));
  for (auto& [id, data] : tensors) {
    net::WireTensor t;
    t.name = g.tensors[id].name;
    t.dtype = kF32;
    const int64_t w = g.tensors[id].width;
    t.dims = {w, static_cast<int64_t>(data.size()) / w};
    t.data = net::payload_take(std::move(data));
    body.tensors.push_back(std::move(t));
  }
  net::Message m;
  m.step = step;
  m.body = std::move(body);
  return m;
}

Result<DecodedStep> read_step(const net::Message& m, const graph::Graph& g) {
  const net::Step* s = m.as<net::Step>();
  if (!s) return invalid_argument("not a STEP message");
  DecodedStep d;
  bool have_batch = false;
  for (const net::WireTensor& t : s->tensors) {
    if (t.name == "__batch") {
      if (t.dtype != kI32 || t.dims.size() != 2 || t.dims[1] != 4 || t.dims[0] <= 0 ||
          t.dims[0] > (1 << 20)) {
        return invalid_argument("STEP: malformed __batch tensor");
      }
      const int n = static_cast<int>(t.dims[0]);
      if (t.data.size() != static_cast<size_t>(4 * n) * 4)
        return invalid_argument("STEP: __batch size mismatch");
      std::vector<int32_t> v = net::payload_to_vector<int32_t>(t.data);
      for (int r = 0; r < n; ++r) d.batch.add(v[r], v[n + r], v[2 * n + r], v[3 * n + r] != 0);
      have_batch = true;
      continue;
    }
    const int id = g.find_tensor(t.name);
    if (id < 0) return invalid_argument("STEP: unknown tensor '" + t.name + "'");
    if (t.dtype != kF32 || t.dims.size() != 2 || t.dims[0] != g.tensors[id].width) {
      return invalid_argument("STEP: tensor '" + t.name + "' has the wrong type or width");
    }
    if (t.data.size() != static_cast<size_t>(t.dims[0] * t.dims[1]) * sizeof(float)) {
      return invalid_argument("STEP: tensor '" + t.name + "' payload size mismatch");
    }
    d.tensors.emplace_back(id, net::payload_to_vector<float>(t.data));
  }
  if (!have_batch) return invalid_argument("STEP without __batch");
  for (auto& [id, data] : d.tensors) {
    const int64_t rows = static_cast<int64_t>(data.size()) / g.tensors[id].width;
    const int64_t want = g.tensors[id].selected ? d.batch.n_out() : d.batch.n_rows();
    if (rows != want)
      return invalid_argument("STEP: tensor '" + g.tensors[id].name + "' has " +
                              std::to_string(rows) + " rows, the batch needs " +
                              std::to_string(want));
  }
  return d;
}

SeqStartInfo seq_start_info(const SeqRecord& rec, int device) {
  SeqStartInfo s;
  s.seq = rec.id;
  s.kv_slot = device < static_cast<int>(rec.kv_slot.size()) ? rec.kv_slot[device] : -1;
  s.sampling = rec.sampling;
  s.rng_state = rec.rng_state;
  s.history = rec.history();
  return s;
}

net::Message make_seq_start(const SeqStartInfo& s) {
  net::SeqStart b;
  b.temp = s.sampling.temp;
  b.top_k = s.sampling.top_k;
  b.top_p = s.sampling.top_p;
  b.min_p = s.sampling.min_p;
  b.repeat_penalty = s.sampling.repeat_penalty;
  b.repeat_last_n = s.sampling.repeat_last_n;
  b.seed = s.sampling.seed;
  b.rng_state = s.rng_state;
  b.kv_slot = s.kv_slot;
  b.history = s.history;
  net::Message m;
  m.seq_id = static_cast<uint32_t>(s.seq);
  // A header flag: SEQ_START's body has no spare field, and the flag keeps its layout.
  if (s.sampling.score) m.flags |= net::kFlagScore;
  m.body = std::move(b);
  return m;
}

SeqStartInfo read_seq_start(const net::Message& m) {
  const net::SeqStart& b = std::get<net::SeqStart>(m.body);
  SeqStartInfo s;
  s.seq = static_cast<int32_t>(m.seq_id);
  s.sampling.temp = b.temp;
  s.sampling.top_k = b.top_k;
  s.sampling.top_p = b.top_p;
  s.sampling.min_p = b.min_p;
  s.sampling.repeat_penalty = b.repeat_penalty;
  s.sampling.repeat_last_n = b.repeat_last_n;
  s.sampling.seed = b.seed;
  s.sampling.score = (m.flags & net::kFlagScore) != 0;
  s.rng_state = b.rng_state;
  s.kv_slot = b.kv_slot;
  s.history = b.history;
  return s;
}

net::Message make_seq_end(int32_t seq) {
  net::Message m;
  m.seq_id = static_cast<uint32_t>(seq);
  m.body = net::SeqEnd{};
  return m;
}

net::Message make_scores(int32_t seq, uint32_t step, std::vector<double> log_probs) {
  net::WireTensor t;
  t.name = "__scores";
  t.dtype = kF64;
  t.dims = {static_cast<int64_t>(log_probs.size())};
  t.data = net::payload_take(std::move(log_probs));  // [n] F64
  net::Step body;
  body.tensors.push_back(std::move(t));
  net::Message m;
  m.seq_id = static_cast<uint32_t>(seq);
  m.step = step;
  m.body = std::move(body);
  return m;
}

bool is_scores(const net::Message& m) {
  const net::Step* s = m.as<net::Step>();
  return s && s->tensors.size() == 1 && s->tensors[0].name == "__scores";
}

Result<std::vector<double>> read_scores(const net::Message& m) {
  if (!is_scores(m)) return invalid_argument("not a SCORES message");
  const net::WireTensor& t = m.as<net::Step>()->tensors[0];
  if (t.dtype != kF64 || t.dims.size() != 1 || t.dims[0] < 0 ||
      t.data.size() != static_cast<size_t>(t.dims[0]) * sizeof(double)) {
    return invalid_argument("SCORES: malformed __scores tensor");
  }
  return net::payload_to_vector<double>(t.data);
}

net::Message make_kv_rows(int32_t seq, int kv_slot, graph::KvRows rows) {
  net::KvRows b;
  b.seq = seq;
  b.kv_slot = kv_slot;
  b.n_pos = static_cast<uint32_t>(rows.n_pos);
  b.ranged = rows.pos_begin != 0;  // rows from position 0 keep the first layout of KV_ROWS
  b.pos_begin = static_cast<uint32_t>(rows.pos_begin);
  b.n_embd_kv = static_cast<uint32_t>(rows.n_embd_kv);
  b.layers.assign(rows.layers.begin(), rows.layers.end());
  b.data = net::payload_take(std::move(rows.data));  // [n_layers][k|v][n_pos][n_embd_kv] F32
  net::Message m;
  m.body = std::move(b);
  return m;
}

Result<DecodedKvRows> read_kv_rows(const net::Message& m) {
  const net::KvRows* b = m.as<net::KvRows>();
  if (!b) return invalid_argument("not a KV_ROWS message");
  // The decoder checked the sizes against each other and the limits.
  DecodedKvRows d;
  d.seq = b->seq;
  d.kv_slot = b->kv_slot;
  d.rows.n_pos = static_cast<int>(b->n_pos);
  d.rows.pos_begin = b->ranged ? static_cast<int>(b->pos_begin) : 0;
  d.rows.n_embd_kv = static_cast<int>(b->n_embd_kv);
  d.rows.layers.assign(b->layers.begin(), b->layers.end());
  d.rows.data = net::payload_to_vector<float>(b->data);
  if (d.rows.data.size() * sizeof(float) != b->data.size())
    return invalid_argument("KV_ROWS: payload is not whole floats");
  return d;
}

}  // namespace ll::runtime
