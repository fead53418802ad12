// The mDNS/DNS-SD records of `worker --advertise` and `run --discover`: what one side writes the
// other reads, compressed names (as other responders send) are followed, and damaged packets
// are errors, never crashes. The live exchange is tested in network namespaces
// (tests/e2e/discovery_test.sh).
#include <gtest/gtest.h>

#include <cstring>

#include "net/discovery.h"

namespace ll::net {
namespace {

ServiceInfo sample() {
  ServiceInfo s;
  s.instance = "w1";
  s.ip = "10.77.0.2";
  s.port = 5555;
  s.txt = {{"version", "1"}, {"name", "w1"}, {"arch", "x86_64"}, {"mem", "1024"}, {"keyfp", "ab"}};
  return s;
}

TEST(Discovery, ResponseRoundTrips) {
  const auto bytes = encode_response(sample());
  auto got = parse_response(bytes.data(), bytes.size(), "10.0.0.9");
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), 1u);
  const ServiceInfo& s = (*got)[0];
  EXPECT_EQ(s.instance, "w1");
  EXPECT_EQ(s.ip, "10.77.0.2");  // the A record wins over the source address
  EXPECT_EQ(s.port, 5555);
  EXPECT_EQ(s.txt, sample().txt);
  EXPECT_EQ(s.address(), "tcp://10.77.0.2:5555");
}

TEST(Discovery, WildcardAddressUsesTheSource) {
  ServiceInfo in = sample();
  in.ip = "";
  in.instance = "name.with.dots";
  const auto bytes = encode_response(in);
  auto got = parse_response(bytes.data(), bytes.size(), "10.0.0.9");
  ASSERT_TRUE(got.is_ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].ip, "10.0.0.9");
  EXPECT_EQ((*got)[0].instance, "name-with-dots");
}

TEST(Discovery, QueryIsRecognised) {
  const auto q = encode_query();
  EXPECT_TRUE(is_query_for_service(q.data(), q.size()));
  const auto r = encode_response(sample());
  EXPECT_FALSE(is_query_for_service(r.data(), r.size()));
  auto none = parse_response(q.data(), q.size(), "1.2.3.4");
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->empty());
}

TEST(Discovery, CompressedNamesAreFollowed) {
  // PTR _lingualinked._tcp.local -> w2.<ptr to the service name>, SRV w2... with compressed
  // owner and target, as avahi and other responders write them.
  std::vector<uint8_t> m = {0, 0, 0x84, 0, 0, 0, 0, 2, 0, 0, 0, 0};
  const size_t service_at = m.size();
  for (const char* l : {"_lingualinked", "_tcp", "local"}) {
    m.push_back(static_cast<uint8_t>(std::strlen(l)));
    m.insert(m.end(), l, l + std::strlen(l));
  }
  m.push_back(0);
  m.insert(m.end(),
           {0, 12, 0, 1, 0, 0, 0, 120, 0, 5, 2, 'w', '2', 0xC0, static_cast<uint8_t>(service_at)});
  const size_t inst_at = m.size() - 5;  // "w2" + pointer
  m.insert(m.end(), {0xC0, static_cast<uint8_t>(inst_at),
                     0,    33,
                     0x80, 1,
                     0,    0,
                     0,    120,
                     0,    8,
                     0,    0,
                     0,    0,
                     0x1F, 0x90,
                     0xC0, static_cast<uint8_t>(inst_at)});
  auto got = parse_response(m.data(), m.size(), "10.0.0.7");
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].instance, "w2");
  EXPECT_EQ((*got)[0].port, 8080);
  EXPECT_EQ((*got)[0].ip, "10.0.0.7");
}

TEST(Discovery, DamagedPacketsAreErrorsNotCrashes) {
  const auto good = encode_response(sample());
  for (size_t n = 0; n < good.size(); ++n) {
    auto got = parse_response(good.data(), n, "1.2.3.4");
    if (got.is_ok()) EXPECT_TRUE(got->empty()) << "prefix of " << n << " bytes";
    (void)is_query_for_service(good.data(), n);
  }
  // A pointer loop.
  std::vector<uint8_t> loop = {0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0, 12};
  EXPECT_FALSE(parse_response(loop.data(), loop.size(), "1.2.3.4").is_ok());
}

TEST(Discovery, FingerprintNamesTheKeyNotItsSecret) {
  auto a = generate_cluster_key();
  auto b = generate_cluster_key();
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(key_fingerprint(*a).size(), 16u);
  EXPECT_EQ(key_fingerprint(*a), key_fingerprint(*a));
  EXPECT_NE(key_fingerprint(*a), key_fingerprint(*b));
  EXPECT_EQ(key_fingerprint(*a).find(a->secret_z85.substr(0, 8)), std::string::npos);
}

}  // namespace
}  // namespace ll::net
