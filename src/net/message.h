// The messages nodes exchange: a fixed header (session/sequence/step routing) plus a typed
// body. The body alternative determines the message type, so type and body cannot disagree.
// Byte layout: docs/protocol.md; encode/decode: net/codec.h.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/status.h"
#include "net/payload.h"

namespace ll::net {

inline constexpr uint16_t kProtocolVersion = 2;

// Values are wire ids; body alternative i in Body has type i + 1.
enum class MsgType : uint16_t {
  kHello = 1,
  kHelloAck = 2,
  kPing = 3,
  kPong = 4,
  kBlast = 5,
  kBlastAck = 6,
  kProfileReq = 7,
  kProfileResp = 8,
  kDeploy = 9,
  kDeployAck = 10,
  kWeightsQuery = 11,
  kWeightsHave = 12,
  kWeightsChunk = 13,
  kWeightsDone = 14,
  kStep = 15,
  kToken = 16,
  kSeqEnd = 17,
  kError = 18,
  kShutdown = 19,
  kSeqStart = 20,
  kKvExport = 21,
  kKvRows = 22,
  kKvAck = 23,
};
inline constexpr uint16_t kMaxMsgType = 23;

// "HELLO", "STEP", ...; "UNKNOWN(n)" for ids outside the enum.
std::string msg_type_name(MsgType t);

// Header flag bits.
inline constexpr uint16_t kFlagFinal = 1u << 0;  // last BLAST chunk; last TOKEN of a sequence
inline constexpr uint16_t kFlagScore = 1u << 1;  // SEQ_START: a scoring sequence (perplexity)
// KV_EXPORT / KV_ROWS: the meta ends with `u32 pos_begin` (a range of positions, not [0, n)).
// Set by the encoder from the body's `ranged`.
inline constexpr uint16_t kFlagRange = 1u << 2;
// KV_ROWS: a move's pre-copy, sent before its switch: the receiver keeps the rows for the
// deployment it is about to install (docs/balance.md).
inline constexpr uint16_t kFlagPrecopy = 1u << 3;
inline constexpr uint16_t kFlagLocal = 1u << 15;  // made by this node, never taken from the wire

enum class Role : uint16_t { kHead = 1, kWorker = 2, kTool = 3 };
const char* role_name(Role r);

// ERROR codes (wire values).
enum class ErrorCode : uint32_t {
  kUnknown = 0,
  kVersionMismatch = 1,  // HELLO from a node speaking another protocol version
  kBadMessage = 2,       // well-formed but not acceptable in this state
  kUnreachable = 3,      // local only: a send could not be delivered to the peer
  kNotReady = 4,         // e.g. STEP before DEPLOY
  kInternal = 5,
};

template <MsgType T>
struct HelloBody {
  Role role = Role::kWorker;
  std::string node_name;
};
using Hello = HelloBody<MsgType::kHello>;
using HelloAck = HelloBody<MsgType::kHelloAck>;

// Link probe; PONG echoes t_ns and pad (pad lets RTT be measured at a given payload size).
template <MsgType T>
struct PingBody {
  uint64_t t_ns = 0;
  Payload pad;  // empty = no payload part
};
using Ping = PingBody<MsgType::kPing>;
using Pong = PingBody<MsgType::kPong>;

// Bandwidth probe chunk; the receiver answers the chunk flagged kFlagFinal with BLAST_ACK.
struct Blast {
  uint32_t index = 0;
  uint32_t count = 0;
  Payload data;
};
struct BlastAck {
  uint64_t bytes_received = 0;
};

template <MsgType T>
struct JsonBody {
  std::string json;
};
using ProfileReq = JsonBody<MsgType::kProfileReq>;
using ProfileResp = JsonBody<MsgType::kProfileResp>;
using DeployAck = JsonBody<MsgType::kDeployAck>;

struct Blob {
  std::string name;
  Payload data;
};
struct Deploy {
  std::string json;
  std::vector<Blob> blobs;
};

// Content-addressed weights: key is e.g. "sha256:<hex>"; the receiver answers a query with the
// keys it already holds, then is sent only the missing ones in chunks.
struct WeightRef {
  std::string key;
  uint64_t bytes = 0;
};
struct WeightsQuery {
  std::vector<WeightRef> blobs;
};
struct WeightsHave {
  std::vector<std::string> keys;
};
struct WeightsChunk {
  std::string key;
  uint64_t offset = 0;
  uint64_t total_bytes = 0;
  Payload data;
};
struct WeightsDone {
  std::string key;
  uint64_t total_bytes = 0;
};

// One named tensor; dims are ggml order (dims[0] innermost), dtype is a GGUF type id.
struct WireTensor {
  std::string name;
  uint32_t dtype = 0;
  std::vector<int64_t> dims;
  Payload data;
};
struct Step {
  std::vector<WireTensor> tensors;
};

// rng_state: the tail's sampler RNG after drawing this token, so the head's sequence table
// can restart the sampler at exactly this point (failover, moves).
struct Token {
  int32_t token_id = 0;
  uint64_t rng_state = 0;
};
// Starts a sequence on every device it passes (header seq_id): its KV slot, and on the tail its
// sampler (configuration, RNG state, and the history for the repetition penalty).
struct SeqStart {
  float temp = 0;
  int32_t top_k = 0;
  float top_p = 1;
  float min_p = 0;
  float repeat_penalty = 1;
  int32_t repeat_last_n = 0;
  uint64_t seed = 0;
  uint64_t rng_state = 0;
  int32_t kv_slot = -1;          // -1: the device picks a free slot
  std::vector<int32_t> history;  // prompt and generated tokens so far
};
// Frees a sequence's KV slot and sampler; follows the sequence's last pass down the ring.
struct SeqEnd {};
struct Error {
  ErrorCode code = ErrorCode::kUnknown;
  std::string text;
};
struct Shutdown {};

// Moving work between devices without replaying (docs/balance.md): the head asks a sequence's
// cached K and V of the layers in [layer_begin, layer_end) for positions [0, n_pos) from
// their old owner (KV_EXPORT, answered with KV_ROWS), and hands them to the new owner
// (KV_ROWS, answered with KV_ACK). Header seq_id is the request id, as for every request.
// Ranged (flag kFlagRange, a move's pre-copy and delta): positions [pos_begin, n_pos) of an
// export, refused unless at least n_pos positions were computed (unranged: exactly n_pos);
// rows of positions [pos_begin, pos_begin + n_pos).
struct KvExport {
  int32_t seq = 0;
  int32_t layer_begin = 0, layer_end = 0;
  uint32_t n_pos = 0;
  bool ranged = false;
  uint32_t pos_begin = 0;  // ranged only
};
struct KvRows {
  int32_t seq = 0;
  int32_t kv_slot = -1;  // the slot the receiver binds the sequence to (-1: any free one)
  uint32_t n_pos = 0;
  bool ranged = false;
  uint32_t pos_begin = 0;  // ranged only
  uint32_t n_embd_kv = 0;
  std::vector<int32_t> layers;  // ascending
  Payload data;                 // F32 [n_layers][k|v][n_pos][n_embd_kv]
};
struct KvAck {
  int32_t seq = 0;
  uint32_t n_layers = 0;  // layers imported
};
// Bounds the decoder enforces on KV_ROWS before anything is allocated.
inline constexpr uint32_t kMaxKvPositions = 1u << 24;
inline constexpr uint32_t kMaxKvWidth = 1u << 20;
// Payload bytes KV_ROWS with these sizes carries; error when it overflows.
Result<uint64_t> kv_rows_bytes(size_t n_layers, uint32_t n_pos, uint32_t n_embd_kv);

using Body = std::variant<Hello, HelloAck, Ping, Pong, Blast, BlastAck, ProfileReq, ProfileResp,
                          Deploy, DeployAck, WeightsQuery, WeightsHave, WeightsChunk, WeightsDone,
                          Step, Token, SeqEnd, Error, Shutdown, SeqStart, KvExport, KvRows, KvAck>;
static_assert(std::variant_size_v<Body> == kMaxMsgType);

struct Message {
  uint16_t version = kProtocolVersion;  // set by decode; tests may encode another
  uint16_t flags = 0;
  uint32_t session_id = 0;  // the head's run (random per head); 0 before a head is known
  uint32_t epoch = 0;       // deployment epoch; devices drop runtime messages of older epochs
  uint32_t seq_id = 0;      // which request / sequence (or probe) this belongs to
  uint32_t step = 0;        // position within the sequence
  Body body;

  MsgType type() const { return static_cast<MsgType>(body.index() + 1); }
  template <typename B>
  B* as() {
    return std::get_if<B>(&body);
  }
  template <typename B>
  const B* as() const {
    return std::get_if<B>(&body);
  }
};

// Bytes a tensor of this dtype and shape occupies; error for unknown dtypes, negative dims,
// block-quantized rows that are not whole blocks, or sizes that overflow.
Result<uint64_t> tensor_bytes(uint32_t dtype, const std::vector<int64_t>& dims);

}  // namespace ll::net
