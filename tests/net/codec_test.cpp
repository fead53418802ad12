#include "net/codec.h"

#include <gtest/gtest.h>

#include "net/frame_pack.h"
#include "net/net_test_util.h"

namespace ll::net {
namespace {

using testing::must_encode;
using testing::patch_frame0;
using testing::put_le;
using testing::sample_message;

std::vector<uint8_t> packed(const Frames& f) {
  return pack_frames(f);
}

TEST(Codec, EveryTypeRoundTrips) {
  for (size_t i = 0; i < kMaxMsgType; ++i) {
    SCOPED_TRACE(msg_type_name(static_cast<MsgType>(i + 1)));
    Frames frames = must_encode(sample_message(i));
    const std::vector<uint8_t> wire = packed(frames);
    auto decoded = decode(frames);
    ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
    Message& m = decoded.value();
    EXPECT_EQ(static_cast<size_t>(m.type()), i + 1);
    EXPECT_EQ(m.version, kProtocolVersion);
    EXPECT_EQ(m.session_id, 0x11223344u);
    EXPECT_EQ(m.epoch, 0x55667788u);
    EXPECT_EQ(m.seq_id, 7u);
    EXPECT_EQ(m.step, 9u);
    // Encoding is deterministic, so equal bytes after a round trip mean equal messages.
    EXPECT_EQ(packed(must_encode(std::move(m))), wire);
  }
}

TEST(Codec, FieldsSurvive) {
  Frames f = must_encode(sample_message(static_cast<size_t>(MsgType::kStep) - 1));
  auto m = decode(f);
  ASSERT_TRUE(m.is_ok());
  const Step* s = m->as<Step>();
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->tensors.size(), 3u);
  EXPECT_EQ(s->tensors[0].name, "hidden");
  EXPECT_EQ(s->tensors[0].dtype, 0u);
  EXPECT_EQ(s->tensors[0].dims, (std::vector<int64_t>{768, 1}));
  EXPECT_EQ(s->tensors[0].data.size(), 3072u);
  EXPECT_EQ(static_cast<const uint8_t*>(s->tensors[0].data.data())[1], 5 + 7);
  EXPECT_EQ(s->tensors[2].data.size(), 136u);

  Frames h = must_encode(sample_message(0));
  auto hello = decode(h);
  ASSERT_TRUE(hello.is_ok());
  EXPECT_EQ(hello->as<Hello>()->node_name, "head-node");
  EXPECT_EQ(hello->as<Hello>()->role, Role::kHead);

  Frames b = must_encode(sample_message(static_cast<size_t>(MsgType::kBlast) - 1));
  auto blast = decode(b);
  ASSERT_TRUE(blast.is_ok());
  EXPECT_TRUE(blast->flags & kFlagFinal);
  EXPECT_EQ(blast->as<Blast>()->count, 8u);
}

TEST(Codec, PayloadsAreNotCopied) {
  std::vector<float> acts(768, 1.5f);
  const void* data = acts.data();
  Message m;
  Step s;
  s.tensors.push_back(WireTensor{"h", 0, {768}, payload_take(std::move(acts))});
  m.body = std::move(s);
  Frames f = must_encode(std::move(m));
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[1].data(), data);
  auto d = decode(f);
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->as<Step>()->tensors[0].data.data(), data);
}

TEST(Codec, LocalFlagNeverCrossesTheWire) {
  Message m = sample_message(static_cast<size_t>(MsgType::kToken) - 1);
  m.flags = kFlagLocal | kFlagFinal;
  Frames f = must_encode(std::move(m));
  auto d = decode(f);
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->flags, kFlagFinal);
}

TEST(Codec, EncodeRejectsInconsistentTensor) {
  Message m;
  Step s;
  s.tensors.push_back(WireTensor{"h", 0, {768}, testing::bytes_payload(100, 0)});
  m.body = std::move(s);
  auto r = encode(std::move(m));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("shape needs 3072 bytes"), std::string::npos);
}

TEST(Codec, TensorBytes) {
  EXPECT_EQ(*tensor_bytes(0, {768, 2}), 768u * 2 * 4);
  EXPECT_EQ(*tensor_bytes(1, {10}), 20u);
  EXPECT_EQ(*tensor_bytes(8, {64, 3}), 2u * 34 * 3);
  EXPECT_EQ(*tensor_bytes(2, {32}), 18u);
  EXPECT_EQ(*tensor_bytes(26, {}), 4u);  // scalar
  EXPECT_FALSE(tensor_bytes(8, {33}).is_ok());
  EXPECT_FALSE(tensor_bytes(0, {-1}).is_ok());
  EXPECT_FALSE(tensor_bytes(0, {int64_t{1} << 62, int64_t{1} << 62}).is_ok());
  EXPECT_EQ(tensor_bytes(77, {1}).status().code(), StatusCode::kUnsupported);
}

// ------------------------------------------------------------------ corruption

// A STEP with one F32 tensor "x" of 4 elements; meta offsets below are for this layout.
Frames one_tensor_step() {
  Message m;
  Step s;
  s.tensors.push_back(WireTensor{"x", 0, {4}, testing::bytes_payload(16, 9)});
  m.body = std::move(s);
  return must_encode(std::move(m));
}
constexpr size_t kOffCount = 40, kOffNameLen = 44, kOffDtype = 49, kOffNDims = 53, kOffDim0 = 57,
                 kOffLen = 65, kStepFrame0 = 73;

void expect_error(Frames& f, StatusCode code, const std::string& needle) {
  auto r = decode(f);
  ASSERT_FALSE(r.is_ok()) << "expected failure containing: " << needle;
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
}

TEST(CodecCorruption, LayoutAssumption) {
  Frames f = one_tensor_step();
  ASSERT_EQ(f[0].size(), kStepFrame0);
  ASSERT_TRUE(decode(f).is_ok());
}

TEST(CodecCorruption, EmptyMessage) {
  Frames f;
  expect_error(f, StatusCode::kCorrupt, "empty message");
}

TEST(CodecCorruption, TruncatedHeader) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { b.resize(20); });
  expect_error(f, StatusCode::kCorrupt, "truncated header: frame 0 has 20 bytes, need 40");
}

TEST(CodecCorruption, WrongMagic) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { b[0] = 'X'; });
  expect_error(f, StatusCode::kCorrupt, "bad magic 0x584c4e4b: not a LinguaLinked message");
}

TEST(CodecCorruption, OtherVersion) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { put_le(b, 4, 1, 2); });
  expect_error(f, StatusCode::kUnsupported,
               "protocol version 1 not supported (this node speaks 2)");
}

TEST(CodecCorruption, FrozenTypesDecodeAcrossVersions) {
  Message m = sample_message(0);
  m.version = 9;
  Frames f = must_encode(std::move(m));
  // A future version may append fields to a frozen body.
  patch_frame0(f, [](auto& b) {
    b.push_back(0xee);
    put_le(b, 12, b.size() - 40, 4);
  });
  auto r = decode(f);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->version, 9);
  EXPECT_EQ(r->as<Hello>()->node_name, "head-node");
}

TEST(CodecCorruption, UnknownType) {
  for (uint16_t t : {0, 24, 999}) {
    Frames f = one_tensor_step();
    patch_frame0(f, [t](auto& b) { put_le(b, 6, t, 2); });
    expect_error(f, StatusCode::kUnsupported, "unknown message type " + std::to_string(t));
  }
}

TEST(CodecCorruption, MetaLenLies) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { put_le(b, 12, 1000, 4); });
  expect_error(f, StatusCode::kCorrupt, "meta_len 1000 but frame 0 holds 33 bytes");
}

TEST(CodecCorruption, PartCountLies) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { put_le(b, 10, 2, 2); });
  expect_error(f, StatusCode::kCorrupt, "header announces 2 payload parts but 1 follow");
}

TEST(CodecCorruption, PayloadBytesLie) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { put_le(b, 32, 17, 8); });
  expect_error(f, StatusCode::kCorrupt, "header says 17 payload bytes but parts hold 16");
}

TEST(CodecCorruption, PayloadFrameShorterThanDeclared) {
  Frames f = one_tensor_step();
  f[1] = zmq::message_t(12);
  patch_frame0(f, [](auto& b) { put_le(b, 32, 12, 8); });
  expect_error(f, StatusCode::kCorrupt, "declares 16 bytes but payload part 1 has 12");
}

TEST(CodecCorruption, TensorLengthLies) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { put_le(b, kOffLen, 20, 8); });
  expect_error(f, StatusCode::kCorrupt,
               "tensor 0 'x': shape needs 16 bytes but byte length says 20");
}

TEST(CodecCorruption, TruncatedMeta) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) {
    b.resize(b.size() - 4);
    put_le(b, 12, b.size() - 40, 4);
  });
  expect_error(f, StatusCode::kCorrupt, "truncated tensor byte length");
}

TEST(CodecCorruption, TrailingMeta) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) {
    b.push_back(0);
    put_le(b, 12, b.size() - 40, 4);
  });
  expect_error(f, StatusCode::kCorrupt, "STEP: 1 trailing meta bytes");
}

TEST(CodecCorruption, StringLengthLies) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { put_le(b, kOffNameLen, 0xffffffffu, 4); });
  expect_error(f, StatusCode::kCorrupt, "tensor name length 4294967295 exceeds limit");
  Frames g = one_tensor_step();
  patch_frame0(g, [](auto& b) { put_le(b, kOffNameLen, 100, 4); });
  expect_error(g, StatusCode::kCorrupt, "tensor name length 100 but only 25 bytes left");
}

TEST(CodecCorruption, TensorCountLies) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { put_le(b, kOffCount, 1000000, 4); });
  expect_error(f, StatusCode::kCorrupt, "tensor count 1000000 exceeds");
  Frames g = one_tensor_step();
  patch_frame0(g, [](auto& b) { put_le(b, kOffCount, 0, 4); });
  expect_error(g, StatusCode::kCorrupt, "trailing meta bytes");
}

TEST(CodecCorruption, BadDims) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { put_le(b, kOffDim0, static_cast<uint64_t>(-4), 8); });
  expect_error(f, StatusCode::kCorrupt, "dim 0 is negative");
  Frames g = one_tensor_step();
  patch_frame0(g, [](auto& b) { put_le(b, kOffNDims, 9, 4); });
  expect_error(g, StatusCode::kCorrupt, "n_dims 9 exceeds 8");
}

TEST(CodecCorruption, UnknownDtype) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { put_le(b, kOffDtype, 77, 4); });
  expect_error(f, StatusCode::kUnsupported, "tensor 0 'x': dtype id 77 is not a wire dtype");
}

TEST(CodecCorruption, QuantizedRowNotWholeBlocks) {
  Frames f = one_tensor_step();
  patch_frame0(f, [](auto& b) { put_le(b, kOffDtype, 8, 4); });
  expect_error(f, StatusCode::kCorrupt, "Q8_0 rows must be a multiple of 32");
}

TEST(CodecCorruption, WeightsChunkOutsideBlob) {
  Frames f = must_encode(sample_message(static_cast<size_t>(MsgType::kWeightsChunk) - 1));
  // key "sha256:ab" (9 bytes): offset field at 40 + 4 + 9.
  patch_frame0(f, [](auto& b) { put_le(b, 53, 90, 8); });
  expect_error(f, StatusCode::kCorrupt, "lies outside total size 100");
}

// KV_ROWS meta (sample: seq 5, slot 1, 3 positions, width 4, layers {2, 3}): seq at 40, slot
// 44, n_pos 48, n_embd_kv 52, layer count 56, layers 60 and 64, byte length 68.
TEST(CodecCorruption, KvRowsSizesMustAgree) {
  auto kv_rows = [] {
    return must_encode(sample_message(static_cast<size_t>(MsgType::kKvRows) - 1));
  };
  Frames f = kv_rows();
  patch_frame0(f, [](auto& b) { put_le(b, 48, 4, 4); });
  expect_error(f, StatusCode::kCorrupt,
               "KV_ROWS: 2 layers of 4 positions and width 4 need 256 bytes but byte length says "
               "192");
  Frames g = kv_rows();
  patch_frame0(g, [](auto& b) { put_le(b, 56, 1000000, 4); });
  expect_error(g, StatusCode::kCorrupt, "KV layer count 1000000 exceeds");
  Frames h = kv_rows();
  patch_frame0(h, [](auto& b) { put_le(b, 52, 0xffffffffu, 4); });
  expect_error(h, StatusCode::kCorrupt, "exceed the limits");
  Frames k = kv_rows();
  patch_frame0(k, [](auto& b) { put_le(b, 60, 0xffffffffu, 4); });
  expect_error(k, StatusCode::kCorrupt, "negative layer -1");
  Frames t = kv_rows();
  patch_frame0(t, [](auto& b) {
    b.resize(62);
    put_le(b, 12, 22, 4);
  });
  expect_error(t, StatusCode::kCorrupt,
               "KV layer count 2 exceeds what the 2 remaining meta bytes can hold");
}

TEST(CodecCorruption, KvExportRangeMustBeSane) {
  Frames f = must_encode(sample_message(static_cast<size_t>(MsgType::kKvExport) - 1));
  patch_frame0(f, [](auto& b) { put_le(b, 48, 1, 4); });  // layer_end 1 < layer_begin 2
  expect_error(f, StatusCode::kCorrupt, "layer range [2, 1) is empty or negative");
  Frames g = must_encode(sample_message(static_cast<size_t>(MsgType::kKvExport) - 1));
  patch_frame0(g, [](auto& b) { put_le(b, 52, 0xffffffffu, 4); });
  expect_error(g, StatusCode::kCorrupt, "n_pos 4294967295 exceeds");
  Frames a = must_encode(sample_message(static_cast<size_t>(MsgType::kKvAck) - 1));
  patch_frame0(a, [](auto& b) {
    b.resize(44);
    put_le(b, 12, 4, 4);
  });
  expect_error(a, StatusCode::kCorrupt, "KV_ACK: truncated layer count");
}

// A move's pre-copy and delta (docs/protocol.md): KV_EXPORT and KV_ROWS with flag RANGE end
// their meta with u32 pos_begin; the unranged forms keep their bytes.
TEST(Codec, RangedKvMessagesRoundTrip) {
  Message e = sample_message(static_cast<size_t>(MsgType::kKvExport) - 1);
  const size_t plain =
      must_encode(sample_message(static_cast<size_t>(MsgType::kKvExport) - 1))[0].size();
  e.as<KvExport>()->ranged = true;
  e.as<KvExport>()->pos_begin = 11;  // [11, 17)
  Frames fe = must_encode(std::move(e));
  EXPECT_EQ(fe[0].size(), plain + 4);
  auto de = decode(fe);
  ASSERT_TRUE(de.is_ok()) << de.status().to_string();
  EXPECT_TRUE(de->flags & kFlagRange);
  ASSERT_TRUE(de->as<KvExport>()->ranged);
  EXPECT_EQ(de->as<KvExport>()->pos_begin, 11u);
  EXPECT_EQ(de->as<KvExport>()->n_pos, 17u);

  Message r = sample_message(static_cast<size_t>(MsgType::kKvRows) - 1);
  r.as<KvRows>()->ranged = true;
  r.as<KvRows>()->pos_begin = 40;
  r.flags |= kFlagPrecopy;
  Frames fr = must_encode(std::move(r));
  auto dr = decode(fr);
  ASSERT_TRUE(dr.is_ok()) << dr.status().to_string();
  EXPECT_TRUE(dr->flags & kFlagPrecopy);
  ASSERT_TRUE(dr->as<KvRows>()->ranged);
  EXPECT_EQ(dr->as<KvRows>()->pos_begin, 40u);
  EXPECT_EQ(dr->as<KvRows>()->n_pos, 3u);
  // The flag comes from the body: an unranged body never carries it.
  Message u = sample_message(static_cast<size_t>(MsgType::kKvRows) - 1);
  u.flags |= kFlagRange;
  Frames fu = must_encode(std::move(u));
  auto du = decode(fu);
  ASSERT_TRUE(du.is_ok());
  EXPECT_FALSE(du->flags & kFlagRange);
  EXPECT_FALSE(du->as<KvRows>()->ranged);
}

// Ranged KV_EXPORT (sample: layers [2, 4), n_pos 17) with pos_begin at 56; KV_ROWS with
// pos_begin at 76 (after its byte length).
TEST(CodecCorruption, RangedKvPositionsMustBeSane) {
  Message e = sample_message(static_cast<size_t>(MsgType::kKvExport) - 1);
  e.as<KvExport>()->ranged = true;
  Frames f = must_encode(std::move(e));
  patch_frame0(f, [](auto& b) { put_le(b, 56, 18, 4); });
  expect_error(f, StatusCode::kCorrupt, "KV_EXPORT: positions [18, 17) are reversed");
  Frames t = must_encode([] {
    Message m = sample_message(static_cast<size_t>(MsgType::kKvExport) - 1);
    m.as<KvExport>()->ranged = true;
    return m;
  }());
  patch_frame0(t, [](auto& b) {
    b.resize(56);
    put_le(b, 12, 16, 4);
  });
  expect_error(t, StatusCode::kCorrupt, "KV_EXPORT: truncated pos_begin");
  Message r = sample_message(static_cast<size_t>(MsgType::kKvRows) - 1);
  r.as<KvRows>()->ranged = true;
  Frames g = must_encode(std::move(r));
  patch_frame0(g, [](auto& b) { put_le(b, 76, 0xfffffffeu, 4); });
  expect_error(g, StatusCode::kCorrupt, "KV_ROWS: positions from 4294967294 for 3 exceed");
  Message bad = sample_message(static_cast<size_t>(MsgType::kKvExport) - 1);
  bad.as<KvExport>()->ranged = true;
  bad.as<KvExport>()->pos_begin = 18;
  EXPECT_FALSE(encode(std::move(bad)).is_ok());
}

TEST(CodecCorruption, FrozenTypeStillRejectsShortBody) {
  Message m = sample_message(static_cast<size_t>(MsgType::kError) - 1);
  m.version = 3;
  Frames f = must_encode(std::move(m));
  patch_frame0(f, [](auto& b) {
    b.resize(42);
    put_le(b, 12, 2, 4);
  });
  expect_error(f, StatusCode::kCorrupt, "ERROR: truncated error code");
}

TEST(FramePack, RoundTripAndTruncation) {
  Frames f = must_encode(sample_message(static_cast<size_t>(MsgType::kStep) - 1));
  std::vector<uint8_t> b = pack_frames(f);
  auto back = unpack_frames(b.data(), b.size());
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(pack_frames(*back), b);
  auto cut = unpack_frames(b.data(), b.size() - 1);
  ASSERT_FALSE(cut.is_ok());
  EXPECT_NE(cut.status().message().find("truncated frame bytes"), std::string::npos);
  auto empty = unpack_frames(nullptr, 0);
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace ll::net
