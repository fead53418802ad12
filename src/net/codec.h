// Message <-> zmq frames, independent of sockets (unit tests and the fuzzer drive it
// directly). Frame 0 = 40-byte header + type-specific meta; frames 1..n = raw payload parts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "net/message.h"

namespace ll::net {

using Frames = std::vector<zmq::message_t>;

inline constexpr size_t kHeaderBytes = 40;
// Byte offsets of the header fields (docs/protocol.md); magic is at 0.
namespace header_offset {
inline constexpr size_t kOffVersion = 4, kOffType = 6, kOffFlags = 8, kOffParts = 10, kOffMeta = 12,
                        kOffSession = 16, kOffEpoch = 20, kOffSeq = 24, kOffStep = 28,
                        kOffPayload = 32;
}  // namespace header_offset
inline constexpr char kMagic[4] = {'L', 'L', 'N', 'K'};

// Limits the decoder enforces before allocating anything (the encoder enforces the same, so
// we never send what a peer would reject).
inline constexpr size_t kMaxParts = 4096;
inline constexpr size_t kMaxMetaBytes = 64u << 20;
inline constexpr size_t kMaxNameBytes = 4096;       // node, tensor, blob names; weight keys
inline constexpr size_t kMaxTextBytes = 64u << 20;  // JSON, error text
inline constexpr size_t kMaxDims = 8;
inline constexpr size_t kMaxHistory = 1u << 24;  // tokens in a SEQ_START history

struct Header {
  uint16_t version = 0;
  uint16_t type = 0;
  uint16_t flags = 0;
  uint16_t n_parts = 0;
  uint32_t meta_len = 0;
  uint32_t session_id = 0;
  uint32_t epoch = 0;
  uint32_t seq_id = 0;
  uint32_t step = 0;
  uint64_t payload_bytes = 0;
};

// Magic and size only; version and type are left to the caller (so a node can answer a
// peer that speaks another version).
Result<Header> parse_header(const uint8_t* data, size_t size);

// Consumes msg: payloads move into frames without copying.
Result<Frames> encode(Message&& msg);

// Validates every length against the bytes present. Payload frames are moved out of
// `frames` into the message (zero-copy); on error `frames` may be partly consumed.
Result<Message> decode(Frames& frames);

}  // namespace ll::net
