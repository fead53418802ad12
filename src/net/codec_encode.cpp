// Message -> frames. Validates as strictly as the decoder so we never send what a peer
// would reject.
#include <cstring>
#include <utility>

#include "net/byte_io.h"
#include "net/codec.h"

namespace ll::net {

namespace {

using namespace header_offset;

// ---------------------------------------------------------------- encoding

class BodyWriter {
 public:
  BodyWriter(ByteWriter& w, Frames& frames) : w_(w), frames_(frames) {}

  Status name(const std::string& s, const char* what) {
    if (s.size() > kMaxNameBytes) return too_long(what, s.size(), kMaxNameBytes);
    w_.str(s);
    return Status::ok();
  }
  Status text(const std::string& s, const char* what) {
    if (s.size() > kMaxTextBytes) return too_long(what, s.size(), kMaxTextBytes);
    w_.str(s);
    return Status::ok();
  }
  void part(Payload& p) { frames_.push_back(std::move(p)); }
  ByteWriter& w() { return w_; }

 private:
  static Status too_long(const char* what, size_t n, size_t max) {
    return invalid_argument(std::string(what) + " is " + std::to_string(n) + " bytes (limit " +
                            std::to_string(max) + ")");
  }
  ByteWriter& w_;
  Frames& frames_;
};

Status count_fits(size_t n, const char* what) {
  if (n > kMaxParts) {
    return invalid_argument(std::string("too many ") + what + ": " + std::to_string(n) +
                            " (limit " + std::to_string(kMaxParts) + ")");
  }
  return Status::ok();
}

template <MsgType T>
Status put(HelloBody<T>& b, BodyWriter& out) {
  out.w().u16(static_cast<uint16_t>(b.role));
  return out.name(b.node_name, "node name");
}

template <MsgType T>
Status put(PingBody<T>& b, BodyWriter& out) {
  out.w().u64(b.t_ns);
  out.w().u64(b.pad.size());
  if (b.pad.size() > 0) out.part(b.pad);
  return Status::ok();
}

Status put(Blast& b, BodyWriter& out) {
  out.w().u32(b.index);
  out.w().u32(b.count);
  out.w().u64(b.data.size());
  out.part(b.data);
  return Status::ok();
}

Status put(BlastAck& b, BodyWriter& out) {
  out.w().u64(b.bytes_received);
  return Status::ok();
}

template <MsgType T>
Status put(JsonBody<T>& b, BodyWriter& out) {
  return out.text(b.json, "JSON");
}

Status put(Deploy& b, BodyWriter& out) {
  LL_RETURN_IF_ERROR(out.text(b.json, "JSON"));
  LL_RETURN_IF_ERROR(count_fits(b.blobs.size(), "blobs"));
  out.w().u32(static_cast<uint32_t>(b.blobs.size()));
  for (Blob& blob : b.blobs) {
    LL_RETURN_IF_ERROR(out.name(blob.name, "blob name"));
    out.w().u64(blob.data.size());
    out.part(blob.data);
  }
  return Status::ok();
}

Status put(WeightsQuery& b, BodyWriter& out) {
  LL_RETURN_IF_ERROR(count_fits(b.blobs.size(), "weight refs"));
  out.w().u32(static_cast<uint32_t>(b.blobs.size()));
  for (const WeightRef& ref : b.blobs) {
    LL_RETURN_IF_ERROR(out.name(ref.key, "weight key"));
    out.w().u64(ref.bytes);
  }
  return Status::ok();
}

Status put(WeightsHave& b, BodyWriter& out) {
  LL_RETURN_IF_ERROR(count_fits(b.keys.size(), "weight keys"));
  out.w().u32(static_cast<uint32_t>(b.keys.size()));
  for (const std::string& key : b.keys) LL_RETURN_IF_ERROR(out.name(key, "weight key"));
  return Status::ok();
}

Status put(WeightsChunk& b, BodyWriter& out) {
  uint64_t end = 0;
  if (__builtin_add_overflow(b.offset, b.data.size(), &end) || end > b.total_bytes) {
    return invalid_argument("weights chunk exceeds total_bytes");
  }
  LL_RETURN_IF_ERROR(out.name(b.key, "weight key"));
  out.w().u64(b.offset);
  out.w().u64(b.total_bytes);
  out.w().u64(b.data.size());
  out.part(b.data);
  return Status::ok();
}

Status put(WeightsDone& b, BodyWriter& out) {
  LL_RETURN_IF_ERROR(out.name(b.key, "weight key"));
  out.w().u64(b.total_bytes);
  return Status::ok();
}

Status put(Step& b, BodyWriter& out) {
  LL_RETURN_IF_ERROR(count_fits(b.tensors.size(), "tensors"));
  out.w().u32(static_cast<uint32_t>(b.tensors.size()));
  for (WireTensor& t : b.tensors) {
    if (t.dims.size() > kMaxDims)
      return invalid_argument("tensor " + quote_name(t.name) + ": too many dims");
    auto want = tensor_bytes(t.dtype, t.dims);
    if (!want.is_ok())
      return invalid_argument("tensor " + quote_name(t.name) + ": " + want.status().message());
    if (*want != t.data.size()) {
      return invalid_argument("tensor " + quote_name(t.name) + ": shape needs " +
                              std::to_string(*want) + " bytes but data has " +
                              std::to_string(t.data.size()));
    }
    LL_RETURN_IF_ERROR(out.name(t.name, "tensor name"));
    out.w().u32(t.dtype);
    out.w().u32(static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) out.w().i64(d);
    out.w().u64(t.data.size());
    out.part(t.data);
  }
  return Status::ok();
}

Status put(Token& b, BodyWriter& out) {
  out.w().i32(b.token_id);
  out.w().u64(b.rng_state);
  return Status::ok();
}

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

Status put(SeqStart& b, BodyWriter& out) {
  if (b.history.size() > kMaxHistory)
    return invalid_argument("sequence history of " + std::to_string(b.history.size()) +
                            " tokens exceeds " + std::to_string(kMaxHistory));
  out.w().u32(float_bits(b.temp));
  out.w().i32(b.top_k);
  out.w().u32(float_bits(b.top_p));
  out.w().u32(float_bits(b.min_p));
  out.w().u32(float_bits(b.repeat_penalty));
  out.w().i32(b.repeat_last_n);
  out.w().u64(b.seed);
  out.w().u64(b.rng_state);
  out.w().i32(b.kv_slot);
  out.w().u32(static_cast<uint32_t>(b.history.size()));
  Payload p = payload_copy(b.history.data(), b.history.size() * sizeof(int32_t));
  out.part(p);
  return Status::ok();
}

Status put(SeqEnd&, BodyWriter&) {
  return Status::ok();
}
Status put(Shutdown&, BodyWriter&) {
  return Status::ok();
}

Status put(KvExport& b, BodyWriter& out) {
  if (b.layer_begin < 0 || b.layer_end < b.layer_begin || b.n_pos > kMaxKvPositions)
    return invalid_argument("KV export of layers [" + std::to_string(b.layer_begin) + ", " +
                            std::to_string(b.layer_end) + ") and " + std::to_string(b.n_pos) +
                            " positions is out of range");
  out.w().i32(b.seq);
  out.w().i32(b.layer_begin);
  out.w().i32(b.layer_end);
  out.w().u32(b.n_pos);
  if (b.ranged) {
    if (b.pos_begin > b.n_pos) return invalid_argument("KV export positions are reversed");
    out.w().u32(b.pos_begin);
  }
  return Status::ok();
}

Status put(KvRows& b, BodyWriter& out) {
  LL_RETURN_IF_ERROR(count_fits(b.layers.size(), "KV layers"));
  LL_ASSIGN_OR_RETURN(uint64_t bytes, kv_rows_bytes(b.layers.size(), b.n_pos, b.n_embd_kv));
  if (bytes != b.data.size())
    return invalid_argument("KV rows need " + std::to_string(bytes) + " bytes but data has " +
                            std::to_string(b.data.size()));
  out.w().i32(b.seq);
  out.w().i32(b.kv_slot);
  out.w().u32(b.n_pos);
  out.w().u32(b.n_embd_kv);
  out.w().u32(static_cast<uint32_t>(b.layers.size()));
  for (int32_t l : b.layers) out.w().i32(l);
  out.w().u64(bytes);
  if (b.ranged) {
    if (b.pos_begin > kMaxKvPositions - b.n_pos)
      return invalid_argument("KV rows positions are out of range");
    out.w().u32(b.pos_begin);
  }
  out.part(b.data);
  return Status::ok();
}

Status put(KvAck& b, BodyWriter& out) {
  out.w().i32(b.seq);
  out.w().u32(b.n_layers);
  return Status::ok();
}

Status put(Error& b, BodyWriter& out) {
  out.w().u32(static_cast<uint32_t>(b.code));
  return out.text(b.text, "error text");
}

}  // namespace

Result<Frames> encode(Message&& msg) {
  thread_local std::vector<uint8_t> meta;
  meta.clear();
  Frames frames;
  frames.reserve(2);
  frames.emplace_back();  // frame 0 is filled in last
  ByteWriter w(&meta);
  w.bytes(kMagic, 4);
  w.u16(msg.version);
  w.u16(static_cast<uint16_t>(msg.type()));
  uint16_t flags = static_cast<uint16_t>(msg.flags & ~kFlagLocal & ~kFlagRange);
  if (const KvExport* e = std::get_if<KvExport>(&msg.body); e && e->ranged) flags |= kFlagRange;
  if (const KvRows* k = std::get_if<KvRows>(&msg.body); k && k->ranged) flags |= kFlagRange;
  w.u16(flags);
  w.u16(0);  // n_parts
  w.u32(0);  // meta_len
  w.u32(msg.session_id);
  w.u32(msg.epoch);
  w.u32(msg.seq_id);
  w.u32(msg.step);
  w.u64(0);  // payload_bytes
  BodyWriter out(w, frames);
  LL_RETURN_IF_ERROR(std::visit([&](auto& body) { return put(body, out); }, msg.body));
  const size_t n_parts = frames.size() - 1;
  if (n_parts > kMaxParts) return invalid_argument("message has too many payload parts");
  if (meta.size() - kHeaderBytes > kMaxMetaBytes) return invalid_argument("message meta too large");
  uint64_t payload = 0;
  for (size_t i = 1; i < frames.size(); ++i) payload += frames[i].size();
  w.patch_u16(kOffParts, static_cast<uint16_t>(n_parts));
  w.patch_u32(kOffMeta, static_cast<uint32_t>(meta.size() - kHeaderBytes));
  w.patch_u64(kOffPayload, payload);
  frames[0] = zmq::message_t(meta.data(), meta.size());
  // A big DEPLOY JSON should not pin megabytes in every sending thread.
  if (meta.capacity() > (1u << 20)) std::vector<uint8_t>().swap(meta);
  return frames;
}

}  // namespace ll::net
