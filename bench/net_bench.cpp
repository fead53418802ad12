// Transport micro-benchmark on loopback: round trips for a decode-sized hop (3 KB, one
// token's activations) and throughput for 1 MiB messages, with and without CURVE.
// Prints one JSON object. Usage: net_bench [rtt_iterations] [mib_messages]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "net/endpoint.h"

namespace {

using namespace ll::net;
using Clock = std::chrono::steady_clock;

constexpr size_t kHopFloats = 768;  // 3 KB: one token's hidden state for a small model

struct Pair {
  std::unique_ptr<Endpoint> server, client;
};

bool make_pair(bool secure, Pair* p) {
  static const ClusterKey key = *generate_cluster_key();
  auto options = [&](const char* name) {
    EndpointOptions o;
    o.node_name = name;
    o.insecure = !secure;
    if (secure) o.cluster_key = key;
    return o;
  };
  auto s = Endpoint::create(options("bench-server"));
  auto c = Endpoint::create(options("bench-client"));
  if (!s.is_ok() || !c.is_ok()) return false;
  p->server = std::move(s).value();
  p->client = std::move(c).value();
  auto addr = p->server->bind("tcp://127.0.0.1:*");
  if (!addr.is_ok()) return false;
  auto info = p->client->connect("server", *addr);
  if (!info.is_ok()) {
    std::fprintf(stderr, "connect: %s\n", info.status().to_string().c_str());
    return false;
  }
  return true;
}

struct Stats {
  double median_us = 0, p95_us = 0;
};

Stats summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stats s;
  if (v.empty()) return s;
  s.median_us = v[v.size() / 2] * 1e6;
  s.p95_us = v[std::min(v.size() - 1, static_cast<size_t>(0.95 * v.size()))] * 1e6;
  return s;
}

Message step_of(std::shared_ptr<std::vector<float>> buf, uint32_t seq) {
  Message m;
  m.seq_id = seq;
  Step s;
  s.tensors.push_back(WireTensor{"hidden",
                                 0,
                                 {static_cast<int64_t>(buf->size())},
                                 payload_view(buf->data(), buf->size() * 4, buf)});
  m.body = std::move(s);
  return m;
}

// Server application thread: echoes STEPs back (payload frames move, no copy), counts
// bytes, and answers a TOKEN with a TOKEN so the client knows a burst has landed.
void echo_server(Endpoint* ep, bool* stop) {
  while (!*stop) {
    auto r = ep->recv(0.2);
    if (!r.is_ok()) continue;
    Received& in = r.value();
    if (in.msg.type() == MsgType::kStep && !(in.msg.flags & kFlagFinal)) {
      (void)ep->send(in.from, std::move(in.msg));
    } else if (in.msg.type() == MsgType::kToken) {
      (void)ep->send(in.from, std::move(in.msg));
    }
  }
}

bool run(bool secure, int rtt_iters, int mib_msgs, std::string* json) {
  Pair p;
  if (!make_pair(secure, &p)) return false;
  const PeerId server = PeerId::outgoing("server");

  // 1) PING/PONG answered by the server's I/O thread, 3 KB pad each way.
  ProbeOptions po;
  po.pings = rtt_iters;
  po.ping_pad_bytes = kHopFloats * 4;
  po.blast_bytes = 0;
  po.timeout_s = 5;
  (void)p.client->probe_link(server, ProbeOptions{200, po.ping_pad_bytes, 0, 1, 5});  // warm-up
  auto probe = p.client->probe_link(server, po);
  if (!probe.is_ok()) {
    std::fprintf(stderr, "probe: %s\n", probe.status().to_string().c_str());
    return false;
  }

  // The planner's probe with default options (16 pings + 2 MiB blast).
  auto full = p.client->probe_link(server);
  if (!full.is_ok()) return false;

  // 2) STEP echoed by the server's application thread: what a pipeline hop costs.
  bool stop = false;
  std::thread echo(echo_server, p.server.get(), &stop);
  auto hop = std::make_shared<std::vector<float>>(kHopFloats, 0.25f);
  std::vector<double> rtts;
  for (int i = 0; i < rtt_iters + 200; ++i) {
    const auto t0 = Clock::now();
    if (!p.client->send(server, step_of(hop, static_cast<uint32_t>(i))).is_ok()) return false;
    auto r = p.client->recv(5.0);
    if (!r.is_ok()) return false;
    if (i >= 200) rtts.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  const Stats step = summarize(rtts);

  // 3) Throughput: a burst of 1 MiB STEPs (flagged final so the server does not echo them),
  // then a TOKEN round trip marks the end of the burst.
  auto big = std::make_shared<std::vector<float>>((1u << 20) / 4, 1.0f);
  const auto t0 = Clock::now();
  for (int i = 0; i < mib_msgs; ++i) {
    Message m = step_of(big, static_cast<uint32_t>(i));
    m.flags = kFlagFinal;
    if (!p.client->send(server, std::move(m)).is_ok()) return false;
  }
  Message tok;
  tok.body = Token{1};
  if (!p.client->send(server, std::move(tok)).is_ok()) return false;
  auto done = p.client->recv(30.0);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  stop = true;
  echo.join();
  if (!done.is_ok()) return false;
  const double mbps = static_cast<double>(mib_msgs) * (1 << 20) / secs / 1e6;

  char buf[768];
  std::snprintf(buf, sizeof buf,
                "{\"ping_rtt_us\": {\"median\": %.1f, \"p95\": %.1f}, "
                "\"step_echo_rtt_us\": {\"median\": %.1f, \"p95\": %.1f}, "
                "\"throughput_1mib_MBps\": %.1f, "
                "\"probe_link_default\": {\"elapsed_ms\": %.2f, \"bandwidth_MBps\": %.1f}}",
                probe->rtt_median_s * 1e6, probe->rtt_p95_s * 1e6, step.median_us, step.p95_us,
                mbps, full->elapsed_s * 1e3, full->bandwidth_bytes_per_s / 1e6);
  *json = buf;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const int rtt_iters = argc > 1 ? std::max(10, std::atoi(argv[1])) : 2000;
  const int mib_msgs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 200;
  std::string curve, plain;
  if (!run(true, rtt_iters, mib_msgs, &curve) || !run(false, rtt_iters, mib_msgs, &plain)) {
    std::fprintf(stderr, "net_bench failed\n");
    return 1;
  }
  std::printf(
      "{\"transport\": \"zmq tcp loopback\", \"hop_payload_bytes\": %zu, "
      "\"rtt_iterations\": %d, \"mib_messages\": %d,\n \"curve\": %s,\n \"insecure\": %s}\n",
      kHopFloats * 4, rtt_iters, mib_msgs, curve.c_str(), plain.c_str());
  return 0;
}
