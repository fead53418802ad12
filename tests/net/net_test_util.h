// Shared by the net tests: one sample message of every type, and byte-patching helpers.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "net/codec.h"
#include "net/frame_pack.h"
#include "net/message.h"
#include "net/payload.h"

namespace ll::net::testing {

inline Payload bytes_payload(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return payload_take(std::move(v));
}

// Sample of type index i (0-based: type i + 1), with every field non-default.
inline Message sample_message(size_t i) {
  Message m;
  m.flags = 0;
  m.session_id = 0x11223344u;
  m.epoch = 0x55667788u;
  m.seq_id = 7;
  m.step = 9;
  switch (static_cast<MsgType>(i + 1)) {
    case MsgType::kHello:
      m.body = Hello{Role::kHead, "head-node"};
      break;
    case MsgType::kHelloAck:
      m.body = HelloAck{Role::kWorker, "w1"};
      break;
    case MsgType::kPing:
      m.body = Ping{123, bytes_payload(3072, 1)};
      break;
    case MsgType::kPong:
      m.body = Pong{456, Payload()};
      break;
    case MsgType::kBlast:
      m.flags = kFlagFinal;
      m.body = Blast{2, 8, bytes_payload(1000, 2)};
      break;
    case MsgType::kBlastAck:
      m.body = BlastAck{123456};
      break;
    case MsgType::kProfileReq:
      m.body = ProfileReq{R"({"rounds":3})"};
      break;
    case MsgType::kProfileResp:
      m.body = ProfileResp{R"({"flops":1.5e9,"free_bytes":123})"};
      break;
    case MsgType::kDeploy: {
      Deploy d;
      d.json = R"({"layers":[0,1,2]})";
      d.blobs.push_back(Blob{"plan", bytes_payload(10, 3)});
      d.blobs.push_back(Blob{"empty", Payload()});
      m.body = std::move(d);
      break;
    }
    case MsgType::kDeployAck:
      m.body = DeployAck{R"({"ok":true})"};
      break;
    case MsgType::kWeightsQuery:
      m.body = WeightsQuery{{WeightRef{"sha256:ab", 100}, WeightRef{"sha256:cd", 0}}};
      break;
    case MsgType::kWeightsHave:
      m.body = WeightsHave{{"sha256:ab"}};
      break;
    case MsgType::kWeightsChunk:
      m.body = WeightsChunk{"sha256:ab", 64, 100, bytes_payload(36, 4)};
      break;
    case MsgType::kWeightsDone:
      m.body = WeightsDone{"sha256:ab", 100};
      break;
    case MsgType::kStep: {
      Step s;
      s.tensors.push_back(WireTensor{"hidden", 0, {768, 1}, bytes_payload(768 * 4, 5)});
      s.tensors.push_back(WireTensor{"pos", 26, {1}, bytes_payload(4, 6)});
      s.tensors.push_back(WireTensor{"kv", 8, {64, 2}, bytes_payload(4 * 34, 7)});
      m.body = std::move(s);
      break;
    }
    case MsgType::kToken:
      m.body = Token{42, 0x0102030405060708ull};
      break;
    case MsgType::kSeqEnd:
      m.body = SeqEnd{};
      break;
    case MsgType::kSeqStart: {
      SeqStart s;
      s.temp = 0.7f;
      s.top_k = 40;
      s.top_p = 0.9f;
      s.min_p = 0.05f;
      s.repeat_penalty = 1.1f;
      s.repeat_last_n = 64;
      s.seed = 1234;
      s.rng_state = 0xfeedfacecafef00dull;
      s.kv_slot = 3;
      s.history = {1, 2, 3, 500};
      m.body = std::move(s);
      break;
    }
    case MsgType::kKvExport:
      m.body = KvExport{5, 2, 4, 17};
      break;
    case MsgType::kKvRows: {
      KvRows r;
      r.seq = 5;
      r.kv_slot = 1;
      r.n_pos = 3;
      r.n_embd_kv = 4;
      r.layers = {2, 3};
      r.data = bytes_payload(2 * 2 * 3 * 4 * 4, 8);  // [2 layers][k|v][3][4] F32
      m.body = std::move(r);
      break;
    }
    case MsgType::kKvAck:
      m.body = KvAck{5, 2};
      break;
    case MsgType::kError:
      m.body = Error{ErrorCode::kNotReady, "not deployed yet"};
      break;
    case MsgType::kShutdown:
      m.body = Shutdown{};
      break;
  }
  return m;
}

inline Frames must_encode(Message m) {
  auto r = encode(std::move(m));
  if (!r.is_ok()) {
    std::fprintf(stderr, "encode failed: %s\n", r.status().to_string().c_str());
    std::abort();
  }
  return std::move(r).value();
}

// Frame 0 rewritten with `patch` applied to a copy of its bytes.
template <typename F>
void patch_frame0(Frames& frames, F patch) {
  std::vector<uint8_t> b(static_cast<const uint8_t*>(frames[0].data()),
                         static_cast<const uint8_t*>(frames[0].data()) + frames[0].size());
  patch(b);
  frames[0] = zmq::message_t(b.data(), b.size());
}

inline void put_le(std::vector<uint8_t>& b, size_t off, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace ll::net::testing
