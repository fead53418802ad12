// Replays every input in fuzz/corpus/frame through the decoder, the way fuzz_frame does.
// valid_* seeds must decode and re-encode to the same bytes, bad_* seeds must be rejected;
// anything else (inputs the fuzzer found) just must not crash.
// LL_REGEN_FRAME_CORPUS=1 rewrites the valid_/bad_ seeds from the current encoder.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "net/codec.h"
#include "net/frame_pack.h"
#include "net/net_test_util.h"

namespace ll::net {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(LL_SOURCE_DIR) / "fuzz" / "corpus" / "frame";

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void write_file(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Decodes a packed input; on success checks that re-encoding reproduces the frames.
Status replay(const std::vector<uint8_t>& input) {
  LL_ASSIGN_OR_RETURN(Frames frames, unpack_frames(input.data(), input.size()));
  LL_ASSIGN_OR_RETURN(Message msg, decode(frames));
  const uint16_t version = msg.version;
  LL_ASSIGN_OR_RETURN(Frames again, encode(std::move(msg)));
  // The decoder drops kFlagLocal (high byte of flags: packed offset 4 + 9) and frozen bodies
  // of other versions may carry trailing bytes we do not keep; anything else must survive.
  std::vector<uint8_t> expected = input;
  expected[13] &= 0x7f;
  if (version == kProtocolVersion && pack_frames(again) != expected) {
    return internal_error("re-encoding changed the bytes");
  }
  return Status::ok();
}

void regenerate() {
  fs::create_directories(kCorpus);
  for (size_t i = 0; i < kMaxMsgType; ++i) {
    std::string name = msg_type_name(static_cast<MsgType>(i + 1));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    Message m = testing::sample_message(i);
    // Keep seeds small: shrink the big sample payloads.
    if (auto* p = m.as<Ping>()) p->pad = testing::bytes_payload(16, 1);
    if (auto* s = m.as<Step>())
      s->tensors[0] = WireTensor{"hidden", 0, {8}, testing::bytes_payload(32, 5)};
    if (auto* b = m.as<Blast>()) b->data = testing::bytes_payload(24, 2);
    write_file(kCorpus / ("valid_" + name + ".frame"),
               pack_frames(testing::must_encode(std::move(m))));
  }
  auto bad = [](const char* name, auto patch) {
    Message m;
    Step s;
    s.tensors.push_back(WireTensor{"x", 0, {4}, testing::bytes_payload(16, 9)});
    m.body = std::move(s);
    Frames f = testing::must_encode(std::move(m));
    testing::patch_frame0(f, patch);
    write_file(kCorpus / (std::string("bad_") + name + ".frame"), pack_frames(f));
  };
  bad("magic", [](auto& b) { b[0] = 'X'; });
  bad("short_header", [](auto& b) { b.resize(20); });
  bad("version", [](auto& b) { testing::put_le(b, 4, 1, 2); });
  bad("type", [](auto& b) { testing::put_le(b, 6, 99, 2); });
  bad("meta_len", [](auto& b) { testing::put_le(b, 12, 1000, 4); });
  bad("parts", [](auto& b) { testing::put_le(b, 10, 3, 2); });
  bad("payload_bytes", [](auto& b) { testing::put_le(b, 32, 15, 8); });
  bad("tensor_len", [](auto& b) { testing::put_le(b, 65, 20, 8); });
  bad("name_len", [](auto& b) { testing::put_le(b, 44, 0xffffffffu, 4); });
  bad("n_dims", [](auto& b) { testing::put_le(b, 53, 9, 4); });
  bad("dtype", [](auto& b) { testing::put_le(b, 49, 77, 4); });
}

TEST(FrameCorpus, ReplayEverySeed) {
  if (std::getenv("LL_REGEN_FRAME_CORPUS")) regenerate();
  ASSERT_TRUE(fs::is_directory(kCorpus)) << kCorpus;
  size_t valid = 0, bad = 0, other = 0;
  for (const auto& entry : fs::directory_iterator(kCorpus)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    Status st = replay(read_file(entry.path()));
    if (name.rfind("valid_", 0) == 0) {
      EXPECT_TRUE(st.is_ok()) << st.to_string();
      ++valid;
    } else if (name.rfind("bad_", 0) == 0) {
      EXPECT_FALSE(st.is_ok());
      EXPECT_NE(st.code(), StatusCode::kInternal) << st.to_string();
      ++bad;
    } else {
      EXPECT_NE(st.code(), StatusCode::kInternal) << st.to_string();
      ++other;
    }
  }
  EXPECT_EQ(valid, static_cast<size_t>(kMaxMsgType));
  EXPECT_GE(bad, 10u);
  std::printf("replayed %zu valid, %zu bad, %zu fuzzer-found inputs\n", valid, bad, other);
}

}  // namespace
}  // namespace ll::net
