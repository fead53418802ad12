// Endpoints talking over tcp://127.0.0.1 with ephemeral ports. Timing assertions are lower
// bounds only: a loaded machine may be slow, never faster than the emulated link.
#include "net/endpoint.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "net/net_test_util.h"

namespace ll::net {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

const ClusterKey& key_a() {
  static const ClusterKey k = *generate_cluster_key();
  return k;
}
const ClusterKey& key_b() {
  static const ClusterKey k = *generate_cluster_key();
  return k;
}

EndpointOptions opts(const std::string& name, const ClusterKey* key) {
  EndpointOptions o;
  o.node_name = name;
  if (key) {
    o.cluster_key = *key;
  } else {
    o.insecure = true;
  }
  return o;
}

std::unique_ptr<Endpoint> make(EndpointOptions o) {
  auto r = Endpoint::create(std::move(o));
  if (!r.is_ok()) {
    ADD_FAILURE() << r.status().to_string();
    return nullptr;
  }
  return std::move(r).value();
}

std::string listen(Endpoint& ep) {
  auto r = ep.bind("tcp://127.0.0.1:*");
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : "";
}

// Next message other than the HELLO that every connect() makes the server deliver.
Result<Received> recv_app(Endpoint& ep, double timeout_s) {
  while (true) {
    auto r = ep.recv(timeout_s);
    if (!r.is_ok() || r->msg.type() != MsgType::kHello) return r;
  }
}

Message step_message(uint32_t seq, size_t floats) {
  std::vector<float> acts(floats);
  for (size_t i = 0; i < floats; ++i) acts[i] = static_cast<float>(i) * 0.5f;
  Message m;
  m.session_id = 5;
  m.seq_id = seq;
  m.step = 4;
  Step s;
  s.tensors.push_back(
      WireTensor{"hidden", 0, {static_cast<int64_t>(floats)}, payload_take(std::move(acts))});
  m.body = std::move(s);
  return m;
}

bool contains(const std::string& s, const std::string& needle) {
  return s.find(needle) != std::string::npos;
}

// The first rejection that contains `needle` (the server logs them asynchronously), waiting
// up to 5 s for it.
std::string wait_rejection(Endpoint& ep, const std::string& needle) {
  if (auto r = ep.wait_rejection(needle, 5.0)) return *r;
  std::string all;
  for (const std::string& r : ep.rejections()) all += r + "\n";
  return "(none matched; got: " + all + ")";
}

TEST(Endpoint, CurvePingPongAndStep) {
  auto server = make(opts("server", &key_a()));
  auto client = make(opts("client", &key_a()));
  ASSERT_TRUE(server && client);
  const std::string addr = listen(*server);
  auto info = client->connect("srv", addr);
  ASSERT_TRUE(info.is_ok()) << info.status().to_string();
  EXPECT_EQ(info->node_name, "server");
  EXPECT_EQ(info->role, Role::kWorker);

  auto hello = server->recv(2.0);
  ASSERT_TRUE(hello.is_ok()) << hello.status().to_string();
  EXPECT_EQ(hello->msg.type(), MsgType::kHello);
  EXPECT_EQ(hello->from, PeerId::incoming("client"));

  ProbeOptions po;
  po.pings = 8;
  po.blast_bytes = 256 << 10;
  po.chunk_bytes = 64 << 10;
  auto probe = client->probe_link(PeerId::outgoing("srv"), po);
  ASSERT_TRUE(probe.is_ok()) << probe.status().to_string();
  EXPECT_GT(probe->rtt_median_s, 0);
  EXPECT_GE(probe->rtt_p95_s, probe->rtt_median_s);
  EXPECT_GT(probe->bandwidth_bytes_per_s, 0);
  EXPECT_EQ(probe->blast_bytes, 256u << 10);
  std::printf("CURVE loopback probe: rtt median %.1f us, p95 %.1f us, %.0f MB/s, %.1f ms\n",
              probe->rtt_median_s * 1e6, probe->rtt_p95_s * 1e6, probe->bandwidth_bytes_per_s / 1e6,
              probe->elapsed_s * 1e3);

  ASSERT_TRUE(client->send(PeerId::outgoing("srv"), step_message(3, 768)).is_ok());
  auto got = recv_app(*server, 2.0);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ(got->from, PeerId::incoming("client"));
  EXPECT_EQ(got->msg.seq_id, 3u);
  EXPECT_EQ(got->msg.step, 4u);
  const Step* step = got->msg.as<Step>();
  ASSERT_NE(step, nullptr);
  ASSERT_EQ(step->tensors.size(), 1u);
  std::vector<float> vals = payload_to_vector<float>(step->tensors[0].data);
  ASSERT_EQ(vals.size(), 768u);
  EXPECT_EQ(vals[767], 767 * 0.5f);

  Message tok;
  tok.seq_id = 3;
  tok.body = Token{42};
  ASSERT_TRUE(server->send(got->from, std::move(tok)).is_ok());
  auto back = client->recv(2.0);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->from, PeerId::outgoing("srv"));
  ASSERT_NE(back->msg.as<Token>(), nullptr);
  EXPECT_EQ(back->msg.as<Token>()->token_id, 42);

  // The listening side can probe back over the incoming link.
  po.pings = 3;
  auto reverse = server->probe_link(PeerId::incoming("client"), po);
  ASSERT_TRUE(reverse.is_ok()) << reverse.status().to_string();
}

TEST(Endpoint, WrongClusterKeyRefusedOnBothSides) {
  auto server = make(opts("server", &key_a()));
  auto intruder = make(opts("intruder", &key_b()));
  ASSERT_TRUE(server && intruder);
  const std::string addr = listen(*server);
  auto r = intruder->connect("srv", addr);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << r.status().to_string();
  EXPECT_TRUE(contains(r.status().message(),
                       "peer srv at " + addr + " refused the handshake: cluster key mismatch"))
      << r.status().message();
  const std::string rej = wait_rejection(*server, "wrong cluster key");
  EXPECT_TRUE(contains(rej, "rejected peer ")) << rej;
  EXPECT_TRUE(contains(rej, "not authorized for this cluster (wrong cluster key)")) << rej;
  std::printf("client saw: %s\nserver logged: %s\n", r.status().message().c_str(), rej.c_str());
  // Nothing from the intruder reached the application.
  EXPECT_EQ(server->recv(0.05).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(intruder->send(PeerId::outgoing("srv"), step_message(1, 4)).code(),
            StatusCode::kNotFound);
}

TEST(Endpoint, ZapRefusesClientWithoutClusterSecret) {
  // Knows the cluster public key (so the server's CURVE hello decrypts) but presents its
  // own key pair: only the ZAP check stands between it and the cluster.
  auto server = make(opts("server", &key_a()));
  EndpointOptions o = opts("impostor", &key_a());
  o.client_key = key_b();
  auto impostor = make(o);
  ASSERT_TRUE(server && impostor);
  const std::string addr = listen(*server);
  auto r = impostor->connect("srv", addr);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(contains(r.status().message(), "refused the handshake: cluster key mismatch"))
      << r.status().message();
  const std::string rej = wait_rejection(*server, "rejected peer 127.0.0.1");
  EXPECT_EQ(rej, "rejected peer 127.0.0.1: not authorized for this cluster (wrong cluster key)");
}

TEST(Endpoint, InsecureModeWorks) {
  auto server = make(opts("server", nullptr));
  auto client = make(opts("client", nullptr));
  ASSERT_TRUE(server && client);
  const std::string addr = listen(*server);
  auto info = client->connect("srv", addr);
  ASSERT_TRUE(info.is_ok()) << info.status().to_string();
  ProbeOptions po;
  po.pings = 4;
  po.blast_bytes = 128 << 10;
  auto probe = client->probe_link(PeerId::outgoing("srv"), po);
  ASSERT_TRUE(probe.is_ok()) << probe.status().to_string();
  ASSERT_TRUE(client->send(PeerId::outgoing("srv"), step_message(1, 16)).is_ok());
  auto got = recv_app(*server, 2.0);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_NE(got->msg.as<Step>(), nullptr);
}

TEST(Endpoint, InsecureClientCannotJoinSecureCluster) {
  auto server = make(opts("server", &key_a()));
  auto client = make(opts("plain", nullptr));
  ASSERT_TRUE(server && client);
  const std::string addr = listen(*server);
  auto r = client->connect("srv", addr);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << r.status().to_string();
  EXPECT_TRUE(contains(r.status().message(), "refused the handshake")) << r.status().message();
}

TEST(Endpoint, ConnectToNothingTimesOut) {
  std::string addr;
  {
    auto tmp = make(opts("tmp", nullptr));
    ASSERT_TRUE(tmp);
    addr = listen(*tmp);
  }  // closed: nothing listens there any more
  EndpointOptions o = opts("client", &key_a());
  o.connect_timeout_s = 0.4;
  auto client = make(o);
  ASSERT_TRUE(client);
  auto r = client->connect("gone", addr);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(contains(r.status().message(), "no handshake with peer gone at " + addr))
      << r.status().message();
}

TEST(Endpoint, HelloWithOtherVersionGetsClearError) {
  auto server = make(opts("server", &key_a()));
  auto client = make(opts("client", &key_a()));
  ASSERT_TRUE(server && client);
  ASSERT_TRUE(client->connect("srv", listen(*server)).is_ok());
  Message hello;
  hello.version = 1;
  hello.seq_id = 77;
  hello.body = Hello{Role::kHead, "client"};
  ASSERT_TRUE(client->send(PeerId::outgoing("srv"), std::move(hello)).is_ok());
  auto r = client->recv(2.0);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Error* err = r->msg.as<Error>();
  ASSERT_NE(err, nullptr) << msg_type_name(r->msg.type());
  EXPECT_EQ(err->code, ErrorCode::kVersionMismatch);
  EXPECT_EQ(r->msg.seq_id, 77u);
  EXPECT_EQ(err->text, "protocol version mismatch: client speaks v1, node server speaks v2");
}

TEST(Endpoint, AddedLatencyIsAtLeastConfigured) {
  auto server = make(opts("server", &key_a()));
  EndpointOptions o = opts("client", &key_a());
  o.added_latency_s = 0.05;
  auto client = make(o);
  ASSERT_TRUE(server && client);
  ASSERT_TRUE(client->connect("srv", listen(*server)).is_ok());
  ASSERT_TRUE(server->recv(2.0).is_ok());  // the HELLO

  const auto t0 = Clock::now();
  for (uint32_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(client->send(PeerId::outgoing("srv"), step_message(i, 64)).is_ok());
  }
  for (uint32_t i = 0; i < 5; ++i) {
    auto got = server->recv(2.0);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_EQ(got->msg.seq_id, i);  // order preserved
    if (i == 0) {
      EXPECT_GE(since(t0), 0.05);
    }
  }
  ProbeOptions po;
  po.pings = 3;
  po.blast_bytes = 0;
  auto probe = client->probe_link(PeerId::outgoing("srv"), po);
  ASSERT_TRUE(probe.is_ok()) << probe.status().to_string();
  EXPECT_GE(probe->rtt_median_s, 0.05);
}

TEST(Endpoint, BandwidthShapingSlowsLargeSends) {
  auto server = make(opts("server", &key_a()));
  EndpointOptions o = opts("client", &key_a());
  o.bandwidth_bytes_per_s = 8.0 * (1 << 20);
  auto client = make(o);
  ASSERT_TRUE(server && client);
  ASSERT_TRUE(client->connect("srv", listen(*server)).is_ok());
  ASSERT_TRUE(server->recv(2.0).is_ok());  // the HELLO

  Message m;
  Deploy d;
  d.json = "{}";
  d.blobs.push_back(Blob{"weights", payload_take(std::vector<uint8_t>(1 << 20, 1))});
  m.body = std::move(d);
  const auto t0 = Clock::now();
  ASSERT_TRUE(client->send(PeerId::outgoing("srv"), std::move(m)).is_ok());
  auto got = server->recv(5.0);
  const double elapsed = since(t0);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_NE(got->msg.as<Deploy>(), nullptr);
  EXPECT_EQ(got->msg.as<Deploy>()->blobs[0].data.size(), 1u << 20);
  EXPECT_GE(elapsed, 0.125);  // 1 MiB at 8 MiB/s
}

Frames garbage(std::mt19937& rng, const zmq::message_t& valid0) {
  std::uniform_int_distribution<int> byte(0, 255), kind(0, 2), nframes(1, 6), len(0, 200);
  Frames f;
  const int k = kind(rng);
  const int n = nframes(rng);
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> b(static_cast<size_t>(len(rng)));
    for (auto& x : b) x = static_cast<uint8_t>(byte(rng));
    if (i == 0) {
      if (k == 0 && !b.empty()) b[0] = 'Z';  // random bytes, wrong magic
      if (k == 1) {                          // plausible header, random rest
        b.resize(std::max<size_t>(b.size(), 40));
        std::memcpy(b.data(), kMagic, 4);
      }
      if (k == 2) {  // a real message's first frame, truncated
        const auto* p = static_cast<const uint8_t*>(valid0.data());
        b.assign(p, p + std::uniform_int_distribution<size_t>(0, valid0.size() - 1)(rng));
      }
    }
    f.emplace_back(b.data(), b.size());
  }
  return f;
}

TEST(Endpoint, SurvivesGarbageFlood) {
  auto server = make(opts("server", &key_a()));
  auto client = make(opts("client", &key_a()));
  ASSERT_TRUE(server && client);
  ASSERT_TRUE(client->connect("srv", listen(*server)).is_ok());
  ASSERT_TRUE(server->recv(2.0).is_ok());  // the HELLO

  std::mt19937 rng(1234);
  Frames valid = testing::must_encode(step_message(1, 32));
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(client->send_raw(PeerId::outgoing("srv"), garbage(rng, valid[0])).is_ok());
  }
  ProbeOptions po;
  po.pings = 1;
  po.blast_bytes = 0;
  po.timeout_s = 15;  // generous for sanitizer builds; a healthy node answers in milliseconds
  auto probe = client->probe_link(PeerId::outgoing("srv"), po);
  ASSERT_TRUE(probe.is_ok()) << probe.status().to_string();
  // The PING was sent after the garbage on the same ordered link.
  EXPECT_EQ(server->stats().dropped_malformed, 1000u);
  EXPECT_EQ(server->recv(0.05).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(client->send(PeerId::outgoing("srv"), step_message(9, 8)).is_ok());
  auto got = server->recv(2.0);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->msg.seq_id, 9u);
}

TEST(Endpoint, UndeliverableSendsAreReported) {
  auto server = make(opts("server", &key_a()));
  ASSERT_TRUE(server);
  listen(*server);
  Status st = server->send(PeerId::outgoing("nobody"), step_message(1, 4));
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  ASSERT_TRUE(server->send(PeerId::incoming("ghost"), step_message(1, 4)).is_ok());
  auto r = server->recv(2.0);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->from, PeerId::incoming("ghost"));
  EXPECT_TRUE(r->msg.flags & kFlagLocal);
  ASSERT_NE(r->msg.as<Error>(), nullptr);
  EXPECT_EQ(r->msg.as<Error>()->code, ErrorCode::kUnreachable);
  EXPECT_EQ(r->msg.as<Error>()->text, "no connected peer named ghost");

  // A probe of a peer that is not there fails at once, not after its timeout.
  const auto t0 = Clock::now();
  auto probe = server->probe_link(PeerId::incoming("ghost"));
  ASSERT_FALSE(probe.is_ok());
  EXPECT_EQ(probe.status().message(),
            "cannot reach ghost (incoming): no connected peer named ghost");
  EXPECT_LT(since(t0), 4.0);  // the probe timeout is 5 s
}

TEST(Endpoint, LostLinkIsReported) {
  auto server = make(opts("server", &key_a()));
  auto client = make(opts("client", &key_a()));
  ASSERT_TRUE(server && client);
  ASSERT_TRUE(client->connect("srv", listen(*server)).is_ok());
  server->close();
  auto r = client->recv(5.0);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->from, PeerId::outgoing("srv"));
  EXPECT_TRUE(r->msg.flags & kFlagLocal);
  ASSERT_NE(r->msg.as<Error>(), nullptr);
  EXPECT_EQ(r->msg.as<Error>()->code, ErrorCode::kUnreachable);
  EXPECT_TRUE(contains(r->msg.as<Error>()->text, "link lost")) << r->msg.as<Error>()->text;
}

TEST(Endpoint, DirectProducerToConsumer) {
  // head -> w1 -> w2 ring plus a residual edge head -> w2 that skips w1.
  auto head = make(opts("head", &key_a()));
  auto w1 = make(opts("w1", &key_a()));
  auto w2 = make(opts("w2", &key_a()));
  ASSERT_TRUE(head && w1 && w2);
  const std::string a1 = listen(*w1), a2 = listen(*w2);
  ASSERT_TRUE(head->connect("w1", a1).is_ok());
  ASSERT_TRUE(head->connect("w2", a2).is_ok());
  ASSERT_TRUE(w1->connect("w2", a2).is_ok());
  ASSERT_TRUE(head->send(PeerId::outgoing("w2"), step_message(1, 8)).is_ok());
  ASSERT_TRUE(w1->send(PeerId::outgoing("w2"), step_message(2, 8)).is_ok());
  std::set<std::string> from;
  for (int i = 0; i < 2; ++i) {
    auto r = recv_app(*w2, 2.0);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    from.insert(r->from.name);
  }
  EXPECT_EQ(from, (std::set<std::string>{"head", "w1"}));
}

TEST(Endpoint, RecvTimeoutAndClose) {
  auto ep = make(opts("solo", nullptr));
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->recv(0.02).status().code(), StatusCode::kUnavailable);
  ep->close();
  EXPECT_EQ(ep->recv(1.0).status().code(), StatusCode::kCancelled);
  EXPECT_EQ(ep->send(PeerId::incoming("x"), step_message(1, 4)).code(), StatusCode::kCancelled);
  ep->close();  // idempotent
}

TEST(Endpoint, OptionsAreValidated) {
  EndpointOptions o;
  o.node_name = "n";
  auto r = Endpoint::create(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_TRUE(contains(r.status().message(), "no cluster key")) << r.status().message();
  o.insecure = true;
  o.node_name = "";
  EXPECT_FALSE(Endpoint::create(o).is_ok());
  o.node_name = "n";
  o.added_latency_s = -1;
  EXPECT_FALSE(Endpoint::create(o).is_ok());
  EndpointOptions bad = opts("n", &key_a());
  bad.cluster_key.public_z85 = key_b().public_z85;
  auto rb = Endpoint::create(bad);
  ASSERT_FALSE(rb.is_ok());
  EXPECT_TRUE(contains(rb.status().message(), "does not belong")) << rb.status().message();
}

}  // namespace
}  // namespace ll::net
