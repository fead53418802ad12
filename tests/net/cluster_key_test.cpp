#include "net/cluster_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "temp_dir.h"

namespace ll::net {
namespace {

using ll::testing::temp_path;

TEST(ClusterKey, GenerateIsValidAndUnique) {
  auto a = generate_cluster_key();
  auto b = generate_cluster_key();
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(a->public_z85.size(), 40u);
  EXPECT_EQ(a->secret_z85.size(), 40u);
  EXPECT_TRUE(validate_cluster_key(*a).is_ok());
  EXPECT_NE(a->secret_z85, b->secret_z85);
}

TEST(ClusterKey, SaveLoadRoundTripWithPrivateMode) {
  auto key = generate_cluster_key();
  ASSERT_TRUE(key.is_ok());
  const std::string path = temp_path("roundtrip.key");
  ::unlink(path.c_str());
  ASSERT_TRUE(save_cluster_key(path, *key, false).is_ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = load_cluster_key(path);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->public_z85, key->public_z85);
  EXPECT_EQ(loaded->secret_z85, key->secret_z85);

  Status again = save_cluster_key(path, *key, false);
  EXPECT_FALSE(again.is_ok());
  EXPECT_NE(again.message().find("already exists"), std::string::npos);
  EXPECT_TRUE(save_cluster_key(path, *key, true).is_ok());
  ::unlink(path.c_str());
}

TEST(ClusterKey, MalformedFilesGiveClearErrors) {
  auto key = generate_cluster_key();
  ASSERT_TRUE(key.is_ok());
  auto other = generate_cluster_key();
  ASSERT_TRUE(other.is_ok());
  const std::string pub = key->public_z85, sec = key->secret_z85;
  struct Case {
    std::string text;
    std::string needle;
  };
  const Case cases[] = {
      {"public-key = " + pub + "\n", "k:missing secret-key"},
      {"secret-key = " + sec + "\n", "k:missing public-key"},
      {"", "k:missing public-key"},
      {"public-key abc\n", "k:1: expected 'public-key = ...'"},
      {"colour = blue\n", "k:1: unknown field 'colour'"},
      {"public-key = " + pub + "\npublic-key = " + pub + "\n", "k:2: duplicate public-key"},
      {"public-key = abc\nsecret-key = " + sec + "\n", "public-key must be 40 Z85 characters"},
      {"public-key = " + pub + "\nsecret-key = " + std::string(40, '"') + "\n",
       "secret-key is not valid Z85"},
      {"public-key = " + other->public_z85 + "\nsecret-key = " + sec + "\n",
       "public-key does not belong to secret-key"},
  };
  for (const Case& c : cases) {
    auto r = parse_cluster_key(c.text, "k");
    ASSERT_FALSE(r.is_ok()) << c.text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    std::string msg = r.status().message();
    // "k: missing..." and "k:1: ..." both appear; compare without the space after "k:".
    if (msg.rfind("k: ", 0) == 0) msg = "k:" + msg.substr(3);
    EXPECT_NE(msg.find(c.needle), std::string::npos) << msg << " / wanted: " << c.needle;
  }
  auto ok = parse_cluster_key("# comment\n\n  public-key=" + pub + "  \r\nsecret-key =" + sec, "k");
  EXPECT_TRUE(ok.is_ok()) << ok.status().to_string();
}

TEST(ClusterKey, MissingFile) {
  auto r = load_cluster_key("/nonexistent/dir/cluster.key");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/dir/cluster.key"), std::string::npos);
}

}  // namespace
}  // namespace ll::net
