#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "shared_dir.h"
#include "temp_dir.h"

namespace ll::gguf {
namespace {

using ll::testing::temp_path;

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

Result<std::unique_ptr<File>> parse_bytes(const std::vector<uint8_t>& b) {
  return File::parse(MappedFile::from_memory(b.data(), b.size()));
}

std::vector<uint8_t> small_file() {
  Writer w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_i32("some.int", -5);
  w.set_f32("some.float", 1.5f);
  w.set_bool("some.bool", true);
  w.set_string_array("tokenizer.ggml.tokens", {"a", "bb", ""});
  w.set_f32_array("tokenizer.ggml.scores", {0.5f, -1.0f, 2.0f});
  w.set_i32_array("tokenizer.ggml.token_type", {1, 2, 3});
  w.add_tensor("w", {64, 3}, DType::kF32, [](uint8_t* out, size_t n) {
    for (size_t i = 0; i < n / 4; ++i) reinterpret_cast<float*>(out)[i] = static_cast<float>(i);
  });
  w.add_tensor("q", {64, 2}, DType::kQ8_0, [](uint8_t* out, size_t n) { std::memset(out, 7, n); });
  std::string p = temp_path("small.gguf");
  EXPECT_TRUE(w.write(p).is_ok());
  return read_all(p);
}

TEST(Gguf, WriterRoundTrip) {
  auto bytes = small_file();
  auto f = parse_bytes(bytes);
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ((*f)->architecture(), "llama");
  EXPECT_EQ(*(*f)->get_int("llama.block_count"), 2);
  EXPECT_EQ(*(*f)->get_int("some.int"), -5);
  EXPECT_DOUBLE_EQ(*(*f)->get_float("some.float"), 1.5);
  EXPECT_TRUE(*(*f)->get_bool("some.bool"));
  ASSERT_NE((*f)->get_string_array("tokenizer.ggml.tokens"), nullptr);
  EXPECT_EQ((*(*f)->get_string_array("tokenizer.ggml.tokens"))[1], "bb");
  EXPECT_EQ((*(*f)->get_float_array("tokenizer.ggml.scores"))[2], 2.0);
  EXPECT_EQ((*(*f)->get_int_array("tokenizer.ggml.token_type"))[2], 3);
  EXPECT_FALSE((*f)->get_string("some.int").is_ok());
  EXPECT_EQ((*f)->get_string("missing").status().code(), StatusCode::kNotFound);
  const TensorInfo* w = (*f)->find_tensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->ne, (std::vector<int64_t>{64, 3}));
  EXPECT_EQ(w->n_bytes, 64u * 3 * 4);
  EXPECT_EQ(reinterpret_cast<const float*>(w->data)[100], 100.0f);
  // Aligned within the file (the buffer itself is only as aligned as malloc makes it).
  EXPECT_EQ(static_cast<size_t>(w->data - bytes.data()) % 32, 0u);
  const TensorInfo* q = (*f)->find_tensor("q");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->n_bytes, 2u * 2 * 34);
  EXPECT_EQ(q->dtype, DType::kQ8_0);
}

TEST(Gguf, EveryTruncationIsAnErrorNotACrash) {
  auto bytes = small_file();
  auto full = parse_bytes(bytes);
  ASSERT_TRUE(full.is_ok());
  const TensorInfo& last = (*full)->tensors().back();
  // Only the alignment padding after the last tensor may be cut.
  const size_t needed = (*full)->data_offset() + last.offset + last.n_bytes;
  ASSERT_LT(needed, bytes.size());
  EXPECT_TRUE(parse_bytes(std::vector<uint8_t>(bytes.begin(), bytes.begin() + needed)).is_ok());
  for (size_t n = 0; n < needed; ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
    auto f = parse_bytes(cut);
    ASSERT_FALSE(f.is_ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(f.status().code(), StatusCode::kCorrupt) << f.status().to_string();
  }
}

TEST(Gguf, HostileHeadersNameTheProblem) {
  auto bytes = small_file();
  auto patch = [&](size_t off, uint64_t v, size_t width) {
    auto b = bytes;
    std::memcpy(b.data() + off, &v, width);
    return parse_bytes(b);
  };
  auto bad_magic = patch(0, 0x12345678, 4);
  EXPECT_NE(bad_magic.status().message().find("magic"), std::string::npos);
  auto bad_version = patch(4, 99, 4);
  EXPECT_NE(bad_version.status().message().find("version 99"), std::string::npos);
  auto huge_tensors = patch(8, 1ull << 40, 8);
  EXPECT_NE(huge_tensors.status().message().find("tensor count"), std::string::npos);
  auto huge_kv = patch(16, 1ull << 40, 8);
  EXPECT_NE(huge_kv.status().message().find("metadata count"), std::string::npos);
  // First key's string length lies about its size.
  auto long_key = patch(24, 1ull << 62, 8);
  EXPECT_FALSE(long_key.is_ok());
}

TEST(Gguf, RandomMutationsNeverCrash) {
  auto bytes = small_file();
  std::mt19937 rng(42);
  int parsed_ok = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    auto b = bytes;
    int n_flips = 1 + rng() % 4;
    for (int k = 0; k < n_flips; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    auto f = parse_bytes(b);
    if (f.is_ok()) {
      ++parsed_ok;
      // Whatever parsed must have tensor data inside the buffer.
      for (const auto& t : (*f)->tensors()) {
        ASSERT_GE(t.data, b.data());
        ASSERT_LE(t.data + t.n_bytes, b.data() + b.size());
      }
    } else {
      EXPECT_FALSE(f.status().message().empty());
    }
  }
  EXPECT_GT(parsed_ok, 0);  // flips inside tensor data are harmless
}

TEST(Gguf, FuzzRegressionCorpusReplays) {
  std::filesystem::path dir = std::string(LL_SOURCE_DIR) + "/fuzz/corpus/gguf";
  ASSERT_TRUE(std::filesystem::exists(dir));
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    auto b = read_all(e.path().string());
    auto f = parse_bytes(b);
    if (!f.is_ok()) EXPECT_FALSE(f.status().message().empty());
    ++n;
  }
  EXPECT_GT(n, 0);
}

TEST(Gguf, ReadsStories260K) {
  LL_REQUIRE_SHARED("models/stories260K.gguf");
  auto f = File::open(ll::testing::shared_path("models/stories260K.gguf"));
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  EXPECT_EQ((*f)->architecture(), "llama");
  EXPECT_EQ(*(*f)->get_int("llama.block_count"), 5);
  EXPECT_EQ(*(*f)->get_int("llama.embedding_length"), 64);
  const TensorInfo* emb = (*f)->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->ne[0], 64);
  EXPECT_EQ(emb->ne[1], 512);
}

TEST(Gguf, MissingFileIsAnIoError) {
  auto f = File::open("/nonexistent/model.gguf");
  ASSERT_FALSE(f.is_ok());
  EXPECT_EQ(f.status().code(), StatusCode::kIoError);
  EXPECT_NE(f.status().message().find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace
}  // namespace ll::gguf
