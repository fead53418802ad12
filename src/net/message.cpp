#include "net/message.h"

#include "core/types.h"

namespace ll::net {

std::string msg_type_name(MsgType t) {
  switch (t) {
    case MsgType::kHello:
      return "HELLO";
    case MsgType::kHelloAck:
      return "HELLO_ACK";
    case MsgType::kPing:
      return "PING";
    case MsgType::kPong:
      return "PONG";
    case MsgType::kBlast:
      return "BLAST";
    case MsgType::kBlastAck:
      return "BLAST_ACK";
    case MsgType::kProfileReq:
      return "PROFILE_REQ";
    case MsgType::kProfileResp:
      return "PROFILE_RESP";
    case MsgType::kDeploy:
      return "DEPLOY";
    case MsgType::kDeployAck:
      return "DEPLOY_ACK";
    case MsgType::kWeightsQuery:
      return "WEIGHTS_QUERY";
    case MsgType::kWeightsHave:
      return "WEIGHTS_HAVE";
    case MsgType::kWeightsChunk:
      return "WEIGHTS_CHUNK";
    case MsgType::kWeightsDone:
      return "WEIGHTS_DONE";
    case MsgType::kStep:
      return "STEP";
    case MsgType::kToken:
      return "TOKEN";
    case MsgType::kSeqEnd:
      return "SEQ_END";
    case MsgType::kError:
      return "ERROR";
    case MsgType::kShutdown:
      return "SHUTDOWN";
    case MsgType::kSeqStart:
      return "SEQ_START";
    case MsgType::kKvExport:
      return "KV_EXPORT";
    case MsgType::kKvRows:
      return "KV_ROWS";
    case MsgType::kKvAck:
      return "KV_ACK";
  }
  return "UNKNOWN(" + std::to_string(static_cast<unsigned>(t)) + ")";
}

const char* role_name(Role r) {
  switch (r) {
    case Role::kHead:
      return "head";
    case Role::kWorker:
      return "worker";
    case Role::kTool:
      return "tool";
  }
  return "unknown";
}

namespace {

// Element sizes of the plain (non-block) GGUF types that core/types.h does not name but
// the runtime may ship (positions, token ids, masks).
DTypeInfo plain(uint32_t id, std::string_view name, int bytes) {
  return DTypeInfo{static_cast<DType>(id), name, 1, bytes, DType::kF32, nullptr, nullptr};
}

std::optional<DTypeInfo> wire_dtype_info(uint32_t id) {
  if (auto info = dtype_info(id)) return info;
  switch (id) {
    case 24:
      return plain(24, "I8", 1);
    case 25:
      return plain(25, "I16", 2);
    case 26:
      return plain(26, "I32", 4);
    case 27:
      return plain(27, "I64", 8);
    case 28:
      return plain(28, "F64", 8);
    default:
      return std::nullopt;
  }
}

}  // namespace

Result<uint64_t> tensor_bytes(uint32_t dtype, const std::vector<int64_t>& dims) {
  auto info = wire_dtype_info(dtype);
  if (!info) return unsupported("dtype id " + std::to_string(dtype) + " is not a wire dtype");
  uint64_t elements = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) {
      return corrupt("dim " + std::to_string(i) + " is negative (" + std::to_string(dims[i]) + ")");
    }
    if (__builtin_mul_overflow(elements, static_cast<uint64_t>(dims[i]), &elements)) {
      return corrupt("element count overflows 64 bits");
    }
  }
  const uint64_t block = static_cast<uint64_t>(info->block_size);
  if (block > 1 && (dims.empty() || static_cast<uint64_t>(dims[0]) % block != 0)) {
    return corrupt(std::string(info->name) + " rows must be a multiple of " +
                   std::to_string(block) + " elements");
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements / block, static_cast<uint64_t>(info->bytes_per_block),
                             &bytes)) {
    return corrupt("byte size overflows 64 bits");
  }
  return bytes;
}

Result<uint64_t> kv_rows_bytes(size_t n_layers, uint32_t n_pos, uint32_t n_embd_kv) {
  if (n_pos > kMaxKvPositions || n_embd_kv > kMaxKvWidth)
    return invalid_argument("KV rows of " + std::to_string(n_pos) + " positions and width " +
                            std::to_string(n_embd_kv) + " exceed the limits (" +
                            std::to_string(kMaxKvPositions) + ", " + std::to_string(kMaxKvWidth) +
                            ")");
  uint64_t n = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(n_layers), 8ull * n_pos, &n) ||
      __builtin_mul_overflow(n, static_cast<uint64_t>(n_embd_kv), &n))
    return invalid_argument("KV rows size overflows");
  return n;
}

}  // namespace ll::net
