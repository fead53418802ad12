// Endpoint::probe_link: the per-pair latency and bandwidth the planner's cost model needs.
#include <algorithm>
#include <chrono>
#include <cmath>

#include "net/endpoint.h"
#include "net/endpoint_shared.h"

namespace ll::net {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

Clock::time_point after(double s) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// A reply of the expected type, or a Status that says what came instead.
template <typename B>
Status expect(const std::optional<Received>& reply, const PeerId& peer, const char* what,
              double timeout_s) {
  if (!reply) {
    return unavailable("no " + std::string(what) + " from " + peer.to_string() + " within " +
                       std::to_string(timeout_s) + " s");
  }
  if (const Error* err = reply->msg.as<Error>()) {
    if (reply->msg.flags & kFlagLocal) {
      return unavailable("cannot reach " + peer.to_string() + ": " + err->text);
    }
    return unavailable(peer.to_string() + " answered with ERROR: " + err->text);
  }
  if (!reply->msg.as<B>()) {
    return corrupt(peer.to_string() + " answered " + std::string(what) + " with " +
                   msg_type_name(reply->msg.type()));
  }
  return Status::ok();
}

}  // namespace

Result<LinkProbe> Endpoint::probe_link(const PeerId& peer, const ProbeOptions& opt) {
  if (opt.pings < 1 || opt.pings > 100000) return invalid_argument("pings must be 1..100000");
  if (opt.blast_bytes > 0 && opt.chunk_bytes == 0) return invalid_argument("chunk_bytes is 0");
  if (opt.blast_bytes / std::max<size_t>(opt.chunk_bytes, 1) >= kMaxParts * 16) {
    return invalid_argument("blast has too many chunks");
  }
  EndpointShared& sh = shared();
  const auto t_start = Clock::now();
  LinkProbe out;

  // Payload buffers are shared by every message that carries them (zero-copy views).
  auto pad = std::make_shared<std::vector<uint8_t>>(opt.ping_pad_bytes, 0x5a);
  std::vector<double> rtts;
  for (int i = 0; i < opt.pings; ++i) {
    const uint32_t seq = sh.next_seq();
    sh.expect_reply(seq);
    Message m;
    m.seq_id = seq;
    Ping ping;
    ping.t_ns = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
    ping.pad = payload_view(pad->data(), pad->size(), pad);
    m.body = std::move(ping);
    const auto t0 = Clock::now();
    Status st = send(peer, std::move(m));
    if (!st.is_ok()) {
      sh.cancel_reply(seq);
      return st;
    }
    auto reply = sh.wait_reply(seq, after(opt.timeout_s));
    LL_RETURN_IF_ERROR(expect<Pong>(reply, peer, "PONG", opt.timeout_s));
    rtts.push_back(since(t0));
  }
  std::sort(rtts.begin(), rtts.end());
  const size_t n = rtts.size();
  out.pings = static_cast<int>(n);
  out.rtt_median_s = n % 2 ? rtts[n / 2] : 0.5 * (rtts[n / 2 - 1] + rtts[n / 2]);
  out.rtt_p95_s = rtts[static_cast<size_t>(std::ceil(0.95 * n)) - 1];

  if (opt.blast_bytes > 0) {
    const size_t chunk = std::min(opt.chunk_bytes, opt.blast_bytes);
    const uint32_t count = static_cast<uint32_t>((opt.blast_bytes + chunk - 1) / chunk);
    auto buf = std::make_shared<std::vector<uint8_t>>(chunk, 0xa5);
    const uint32_t seq = sh.next_seq();
    sh.expect_reply(seq);
    const auto t0 = Clock::now();
    size_t left = opt.blast_bytes;
    for (uint32_t i = 0; i < count; ++i) {
      const size_t len = std::min(chunk, left);
      left -= len;
      Message m;
      m.seq_id = seq;
      m.flags = i + 1 == count ? kFlagFinal : 0;
      m.body = Blast{i, count, payload_view(buf->data(), len, buf)};
      Status st = send(peer, std::move(m));
      if (!st.is_ok()) {
        sh.cancel_reply(seq);
        return st;
      }
    }
    auto reply = sh.wait_reply(seq, after(opt.timeout_s));
    LL_RETURN_IF_ERROR(expect<BlastAck>(reply, peer, "BLAST_ACK", opt.timeout_s));
    const double elapsed = since(t0);
    const uint64_t got = reply->msg.as<BlastAck>()->bytes_received;
    if (got != opt.blast_bytes) {
      return corrupt(peer.to_string() + " received " + std::to_string(got) + " of " +
                     std::to_string(opt.blast_bytes) + " blast bytes");
    }
    // The ack costs about one round trip on top of pushing the bytes through the link.
    const double transfer = std::max(elapsed - out.rtt_median_s, 0.1 * elapsed);
    out.blast_bytes = got;
    out.bandwidth_bytes_per_s = static_cast<double>(got) / transfer;
  }
  out.elapsed_s = since(t_start);
  return out;
}

}  // namespace ll::net
