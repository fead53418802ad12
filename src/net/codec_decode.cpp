// Frames -> Message. The only code that reads untrusted bytes: every length is checked
// against what is present before it is used, and every failure names what was wrong.
#include <array>
#include <cstdio>
#include <cstring>
#include <utility>

#include "net/byte_io.h"
#include "net/codec.h"

namespace ll::net {

namespace {

using namespace header_offset;

// ---------------------------------------------------------------- decoding

// Hands out payload frames in order, checking each against the length the meta declared.
class PartCursor {
 public:
  explicit PartCursor(Frames& frames) : frames_(frames) {}

  Status take(uint64_t declared, const std::string& what, Payload* out) {
    if (next_ >= frames_.size()) {
      return corrupt(what + ": payload part " + std::to_string(next_) + " missing (message has " +
                     std::to_string(frames_.size() - 1) + " parts)");
    }
    Payload& f = frames_[next_];
    if (f.size() != declared) {
      return corrupt(what + " declares " + std::to_string(declared) + " bytes but payload part " +
                     std::to_string(next_) + " has " + std::to_string(f.size()));
    }
    *out = std::move(f);
    ++next_;
    return Status::ok();
  }
  size_t used() const { return next_ - 1; }

 private:
  Frames& frames_;
  size_t next_ = 1;
};

struct BodyReader {
  ByteReader& r;
  PartCursor& parts;
  uint16_t flags = 0;  // the header's

  // Counts are bounded by what the remaining meta could possibly hold, so a lying count
  // cannot trigger a huge allocation.
  Status count(uint32_t* n, size_t min_item_bytes, const char* what) {
    LL_RETURN_IF_ERROR(r.u32(n, what));
    if (*n > kMaxParts || static_cast<uint64_t>(*n) * min_item_bytes > r.remaining()) {
      return corrupt(std::string(what) + " " + std::to_string(*n) + " exceeds what the " +
                     std::to_string(r.remaining()) + " remaining meta bytes can hold");
    }
    return Status::ok();
  }
};

template <MsgType T>
Status get(HelloBody<T>& b, BodyReader& in) {
  uint16_t role = 0;
  LL_RETURN_IF_ERROR(in.r.u16(&role, "role"));
  b.role = static_cast<Role>(role);
  return in.r.str(&b.node_name, kMaxNameBytes, "node name");
}

template <MsgType T>
Status get(PingBody<T>& b, BodyReader& in) {
  uint64_t pad = 0;
  LL_RETURN_IF_ERROR(in.r.u64(&b.t_ns, "ping time"));
  LL_RETURN_IF_ERROR(in.r.u64(&pad, "ping pad length"));
  if (pad > 0) return in.parts.take(pad, "ping pad", &b.pad);
  return Status::ok();
}

Status get(Blast& b, BodyReader& in) {
  uint64_t n = 0;
  LL_RETURN_IF_ERROR(in.r.u32(&b.index, "blast index"));
  LL_RETURN_IF_ERROR(in.r.u32(&b.count, "blast count"));
  LL_RETURN_IF_ERROR(in.r.u64(&n, "blast length"));
  return in.parts.take(n, "blast chunk", &b.data);
}

Status get(BlastAck& b, BodyReader& in) {
  return in.r.u64(&b.bytes_received, "blast ack bytes");
}

template <MsgType T>
Status get(JsonBody<T>& b, BodyReader& in) {
  return in.r.str(&b.json, kMaxTextBytes, "JSON");
}

Status get(Deploy& b, BodyReader& in) {
  uint32_t n = 0;
  LL_RETURN_IF_ERROR(in.r.str(&b.json, kMaxTextBytes, "JSON"));
  LL_RETURN_IF_ERROR(in.count(&n, 12, "blob count"));
  b.blobs.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t len = 0;
    LL_RETURN_IF_ERROR(in.r.str(&b.blobs[i].name, kMaxNameBytes, "blob name"));
    LL_RETURN_IF_ERROR(in.r.u64(&len, "blob length"));
    LL_RETURN_IF_ERROR(in.parts.take(len, "blob " + quote_name(b.blobs[i].name), &b.blobs[i].data));
  }
  return Status::ok();
}

Status get(WeightsQuery& b, BodyReader& in) {
  uint32_t n = 0;
  LL_RETURN_IF_ERROR(in.count(&n, 12, "weight ref count"));
  b.blobs.resize(n);
  for (WeightRef& ref : b.blobs) {
    LL_RETURN_IF_ERROR(in.r.str(&ref.key, kMaxNameBytes, "weight key"));
    LL_RETURN_IF_ERROR(in.r.u64(&ref.bytes, "weight size"));
  }
  return Status::ok();
}

Status get(WeightsHave& b, BodyReader& in) {
  uint32_t n = 0;
  LL_RETURN_IF_ERROR(in.count(&n, 4, "weight key count"));
  b.keys.resize(n);
  for (std::string& key : b.keys) {
    LL_RETURN_IF_ERROR(in.r.str(&key, kMaxNameBytes, "weight key"));
  }
  return Status::ok();
}

Status get(WeightsChunk& b, BodyReader& in) {
  uint64_t n = 0, end = 0;
  LL_RETURN_IF_ERROR(in.r.str(&b.key, kMaxNameBytes, "weight key"));
  LL_RETURN_IF_ERROR(in.r.u64(&b.offset, "chunk offset"));
  LL_RETURN_IF_ERROR(in.r.u64(&b.total_bytes, "weight total size"));
  LL_RETURN_IF_ERROR(in.r.u64(&n, "chunk length"));
  if (__builtin_add_overflow(b.offset, n, &end) || end > b.total_bytes) {
    return corrupt("weights chunk [" + std::to_string(b.offset) + ", +" + std::to_string(n) +
                   ") lies outside total size " + std::to_string(b.total_bytes));
  }
  return in.parts.take(n, "weights chunk", &b.data);
}

Status get(WeightsDone& b, BodyReader& in) {
  LL_RETURN_IF_ERROR(in.r.str(&b.key, kMaxNameBytes, "weight key"));
  return in.r.u64(&b.total_bytes, "weight total size");
}

Status get(Step& b, BodyReader& in) {
  uint32_t n = 0;
  LL_RETURN_IF_ERROR(in.count(&n, 20, "tensor count"));
  b.tensors.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    WireTensor& t = b.tensors[i];
    uint32_t n_dims = 0;
    uint64_t len = 0;
    LL_RETURN_IF_ERROR(in.r.str(&t.name, kMaxNameBytes, "tensor name"));
    const std::string label = "tensor " + std::to_string(i) + " " + quote_name(t.name);
    LL_RETURN_IF_ERROR(in.r.u32(&t.dtype, "tensor dtype"));
    LL_RETURN_IF_ERROR(in.r.u32(&n_dims, "tensor n_dims"));
    if (n_dims > kMaxDims) {
      return corrupt(label + ": n_dims " + std::to_string(n_dims) + " exceeds " +
                     std::to_string(kMaxDims));
    }
    t.dims.resize(n_dims);
    for (int64_t& d : t.dims) LL_RETURN_IF_ERROR(in.r.i64(&d, "tensor dim"));
    LL_RETURN_IF_ERROR(in.r.u64(&len, "tensor byte length"));
    auto want = tensor_bytes(t.dtype, t.dims);
    if (!want.is_ok()) return Status(want.status().code(), label + ": " + want.status().message());
    if (*want != len) {
      return corrupt(label + ": shape needs " + std::to_string(*want) +
                     " bytes but byte length says " + std::to_string(len));
    }
    LL_RETURN_IF_ERROR(in.parts.take(len, label, &t.data));
  }
  return Status::ok();
}

Status get(Token& b, BodyReader& in) {
  LL_RETURN_IF_ERROR(in.r.i32(&b.token_id, "token id"));
  return in.r.u64(&b.rng_state, "rng state");
}

Status get_float(BodyReader& in, float* f, const char* what) {
  uint32_t u = 0;
  LL_RETURN_IF_ERROR(in.r.u32(&u, what));
  std::memcpy(f, &u, 4);
  return Status::ok();
}

Status get(SeqStart& b, BodyReader& in) {
  LL_RETURN_IF_ERROR(get_float(in, &b.temp, "temp"));
  LL_RETURN_IF_ERROR(in.r.i32(&b.top_k, "top_k"));
  LL_RETURN_IF_ERROR(get_float(in, &b.top_p, "top_p"));
  LL_RETURN_IF_ERROR(get_float(in, &b.min_p, "min_p"));
  LL_RETURN_IF_ERROR(get_float(in, &b.repeat_penalty, "repeat_penalty"));
  LL_RETURN_IF_ERROR(in.r.i32(&b.repeat_last_n, "repeat_last_n"));
  LL_RETURN_IF_ERROR(in.r.u64(&b.seed, "seed"));
  LL_RETURN_IF_ERROR(in.r.u64(&b.rng_state, "rng state"));
  LL_RETURN_IF_ERROR(in.r.i32(&b.kv_slot, "kv slot"));
  uint32_t n = 0;
  LL_RETURN_IF_ERROR(in.r.u32(&n, "history length"));
  if (n > kMaxHistory)
    return corrupt("history length " + std::to_string(n) + " exceeds " +
                   std::to_string(kMaxHistory));
  Payload p;
  LL_RETURN_IF_ERROR(in.parts.take(static_cast<uint64_t>(n) * 4, "history", &p));
  b.history = payload_to_vector<int32_t>(p);
  return Status::ok();
}

Status get(SeqEnd&, BodyReader&) {
  return Status::ok();
}
Status get(Shutdown&, BodyReader&) {
  return Status::ok();
}

Status get(KvExport& b, BodyReader& in) {
  LL_RETURN_IF_ERROR(in.r.i32(&b.seq, "sequence"));
  LL_RETURN_IF_ERROR(in.r.i32(&b.layer_begin, "layer_begin"));
  LL_RETURN_IF_ERROR(in.r.i32(&b.layer_end, "layer_end"));
  LL_RETURN_IF_ERROR(in.r.u32(&b.n_pos, "n_pos"));
  if (b.layer_begin < 0 || b.layer_end < b.layer_begin)
    return corrupt("layer range [" + std::to_string(b.layer_begin) + ", " +
                   std::to_string(b.layer_end) + ") is empty or negative");
  if (b.n_pos > kMaxKvPositions)
    return corrupt("n_pos " + std::to_string(b.n_pos) + " exceeds " +
                   std::to_string(kMaxKvPositions));
  if (in.flags & kFlagRange) {
    b.ranged = true;
    LL_RETURN_IF_ERROR(in.r.u32(&b.pos_begin, "pos_begin"));
    if (b.pos_begin > b.n_pos)
      return corrupt("positions [" + std::to_string(b.pos_begin) + ", " + std::to_string(b.n_pos) +
                     ") are reversed");
  }
  return Status::ok();
}

Status get(KvRows& b, BodyReader& in) {
  uint32_t n = 0;
  uint64_t len = 0;
  LL_RETURN_IF_ERROR(in.r.i32(&b.seq, "sequence"));
  LL_RETURN_IF_ERROR(in.r.i32(&b.kv_slot, "kv slot"));
  LL_RETURN_IF_ERROR(in.r.u32(&b.n_pos, "n_pos"));
  LL_RETURN_IF_ERROR(in.r.u32(&b.n_embd_kv, "n_embd_kv"));
  LL_RETURN_IF_ERROR(in.count(&n, 4, "KV layer count"));
  b.layers.resize(n);
  for (int32_t& l : b.layers) {
    LL_RETURN_IF_ERROR(in.r.i32(&l, "layer"));
    if (l < 0) return corrupt("negative layer " + std::to_string(l));
  }
  LL_RETURN_IF_ERROR(in.r.u64(&len, "KV byte length"));
  auto want = kv_rows_bytes(n, b.n_pos, b.n_embd_kv);
  if (!want.is_ok()) return corrupt(want.status().message());
  if (*want != len)
    return corrupt(std::to_string(n) + " layers of " + std::to_string(b.n_pos) +
                   " positions and width " + std::to_string(b.n_embd_kv) + " need " +
                   std::to_string(*want) + " bytes but byte length says " + std::to_string(len));
  if (in.flags & kFlagRange) {
    b.ranged = true;
    LL_RETURN_IF_ERROR(in.r.u32(&b.pos_begin, "pos_begin"));
    if (b.pos_begin > kMaxKvPositions - b.n_pos)
      return corrupt("positions from " + std::to_string(b.pos_begin) + " for " +
                     std::to_string(b.n_pos) + " exceed " + std::to_string(kMaxKvPositions));
  }
  return in.parts.take(len, "KV rows", &b.data);
}

Status get(KvAck& b, BodyReader& in) {
  LL_RETURN_IF_ERROR(in.r.i32(&b.seq, "sequence"));
  return in.r.u32(&b.n_layers, "layer count");
}

Status get(Error& b, BodyReader& in) {
  uint32_t code = 0;
  LL_RETURN_IF_ERROR(in.r.u32(&code, "error code"));
  b.code = static_cast<ErrorCode>(code);
  return in.r.str(&b.text, kMaxTextBytes, "error text");
}

// Builds body alternative I (type I + 1) in place and decodes it.
template <size_t I>
Status get_alt(Body& body, BodyReader& in) {
  return get(body.emplace<I>(), in);
}

template <size_t... I>
constexpr auto make_getters(std::index_sequence<I...>) {
  return std::array<Status (*)(Body&, BodyReader&), sizeof...(I)>{&get_alt<I>...};
}
constexpr auto kGetters = make_getters(std::make_index_sequence<std::variant_size_v<Body>>());

// HELLO, HELLO_ACK and ERROR keep their layout in every protocol version, so a node can
// always tell a peer why it is being refused.
bool frozen_layout(uint16_t type) {
  return type == static_cast<uint16_t>(MsgType::kHello) ||
         type == static_cast<uint16_t>(MsgType::kHelloAck) ||
         type == static_cast<uint16_t>(MsgType::kError);
}

}  // namespace

Result<Header> parse_header(const uint8_t* data, size_t size) {
  if (size < kHeaderBytes) {
    return corrupt("truncated header: frame 0 has " + std::to_string(size) + " bytes, need " +
                   std::to_string(kHeaderBytes));
  }
  if (std::memcmp(data, kMagic, 4) != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%02x%02x%02x%02x", data[0], data[1], data[2], data[3]);
    return corrupt(std::string("bad magic 0x") + hex + ": not a LinguaLinked message");
  }
  ByteReader r(data + kOffVersion, kHeaderBytes - kOffVersion);
  Header h;
  // Cannot fail: the span is exactly the header's remaining 36 bytes.
  (void)r.u16(&h.version, "version");
  (void)r.u16(&h.type, "type");
  (void)r.u16(&h.flags, "flags");
  (void)r.u16(&h.n_parts, "n_parts");
  (void)r.u32(&h.meta_len, "meta_len");
  (void)r.u32(&h.session_id, "session");
  (void)r.u32(&h.epoch, "epoch");
  (void)r.u32(&h.seq_id, "seq");
  (void)r.u32(&h.step, "step");
  (void)r.u64(&h.payload_bytes, "payload_bytes");
  return h;
}

Result<Message> decode(Frames& frames) {
  if (frames.empty()) return corrupt("empty message: no frames");
  const auto* base = static_cast<const uint8_t*>(frames[0].data());
  const size_t size0 = frames[0].size();
  LL_ASSIGN_OR_RETURN(Header h, parse_header(base, size0));
  if (h.type == 0 || h.type > kMaxMsgType) {
    return unsupported("unknown message type " + std::to_string(h.type));
  }
  const bool same_version = h.version == kProtocolVersion;
  if (!same_version && !frozen_layout(h.type)) {
    return unsupported("protocol version " + std::to_string(h.version) +
                       " not supported (this node speaks " + std::to_string(kProtocolVersion) +
                       ")");
  }
  const std::string type_name = msg_type_name(static_cast<MsgType>(h.type));
  if (h.meta_len != size0 - kHeaderBytes) {
    return corrupt(type_name + ": meta_len " + std::to_string(h.meta_len) + " but frame 0 holds " +
                   std::to_string(size0 - kHeaderBytes) + " bytes after the header");
  }
  if (h.n_parts != frames.size() - 1) {
    return corrupt(type_name + ": header announces " + std::to_string(h.n_parts) +
                   " payload parts but " + std::to_string(frames.size() - 1) + " follow");
  }
  uint64_t payload = 0;
  for (size_t i = 1; i < frames.size(); ++i) payload += frames[i].size();
  if (payload != h.payload_bytes) {
    return corrupt(type_name + ": header says " + std::to_string(h.payload_bytes) +
                   " payload bytes but parts hold " + std::to_string(payload));
  }
  Message msg;
  msg.version = h.version;
  msg.flags = static_cast<uint16_t>(h.flags & ~kFlagLocal);
  msg.session_id = h.session_id;
  msg.epoch = h.epoch;
  msg.seq_id = h.seq_id;
  msg.step = h.step;
  ByteReader r(base + kHeaderBytes, h.meta_len);
  PartCursor parts(frames);
  BodyReader in{r, parts, h.flags};
  Status st = kGetters[h.type - 1](msg.body, in);
  if (!st.is_ok()) return Status(st.code(), type_name + ": " + st.message());
  // A newer peer may extend a frozen body at the end; otherwise every byte must be used.
  if (r.remaining() != 0 && same_version) {
    return corrupt(type_name + ": " + std::to_string(r.remaining()) +
                   " trailing meta bytes after the body");
  }
  if (parts.used() != h.n_parts) {
    return corrupt(type_name + ": body uses " + std::to_string(parts.used()) + " of " +
                   std::to_string(h.n_parts) + " payload parts");
  }
  return msg;
}

}  // namespace ll::net
