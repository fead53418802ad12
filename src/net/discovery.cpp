#include "net/discovery.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>

#include "core/hash.h"

namespace ll::net {

namespace {

constexpr const char* kGroup = "224.0.0.251";
constexpr int kPort = 5353;
constexpr uint16_t kTypeA = 1, kTypePtr = 12, kTypeTxt = 16, kTypeSrv = 33, kClassIn = 1;
constexpr uint16_t kCacheFlush = 0x8000;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A DNS label: no dots, at most 63 bytes.
std::string label_of(const std::string& name) {
  std::string l = name.empty() ? "worker" : name;
  std::replace(l.begin(), l.end(), '.', '-');
  return l.substr(0, 63);
}

class Writer {
 public:
  void u8(uint8_t v) { b.push_back(v); }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void name(const std::string& dotted) {
    size_t start = 0;
    while (start < dotted.size()) {
      size_t dot = dotted.find('.', start);
      if (dot == std::string::npos) dot = dotted.size();
      const std::string l = dotted.substr(start, std::min<size_t>(dot - start, 63));
      u8(static_cast<uint8_t>(l.size()));
      b.insert(b.end(), l.begin(), l.end());
      start = dot + 1;
    }
    u8(0);
  }
  // A resource record whose rdata `fill` writes; the length is patched in afterwards.
  template <typename F>
  void record(const std::string& owner, uint16_t type, uint16_t cls, uint32_t ttl, F fill) {
    name(owner);
    u16(type);
    u16(cls);
    u32(ttl);
    const size_t at = b.size();
    u16(0);
    fill();
    const size_t len = b.size() - at - 2;
    b[at] = static_cast<uint8_t>(len >> 8);
    b[at + 1] = static_cast<uint8_t>(len);
  }
  std::vector<uint8_t> b;
};

class Reader {
 public:
  Reader(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }
  void seek(size_t p) { pos_ = p; }
  uint8_t u8() {
    if (pos_ + 1 > n_) return fail();
    return d_[pos_++];
  }
  uint16_t u16() {
    const uint16_t hi = u8();
    return static_cast<uint16_t>(hi << 8 | u8());
  }
  uint32_t u32() {
    const uint32_t hi = u16();
    return hi << 16 | u16();
  }
  // A possibly compressed name, lowercased; the position ends after the name where it started.
  std::string name() {
    std::string out;
    size_t p = pos_;
    bool jumped = false;
    for (int hops = 0; hops < 32; ++hops) {
      if (p >= n_) return fail_name();
      const uint8_t len = d_[p];
      if (len == 0) {
        if (!jumped) pos_ = p + 1;
        return lower(out);
      }
      if ((len & 0xC0) == 0xC0) {
        if (p + 1 >= n_) return fail_name();
        if (!jumped) pos_ = p + 2;
        jumped = true;
        p = static_cast<size_t>(len & 0x3F) << 8 | d_[p + 1];
        continue;
      }
      if (len > 63 || p + 1 + len > n_) return fail_name();
      if (!out.empty()) out += '.';
      out.append(reinterpret_cast<const char*>(d_ + p + 1), len);
      p += 1 + len;
    }
    return fail_name();
  }

 private:
  uint8_t fail() {
    ok_ = false;
    pos_ = n_;
    return 0;
  }
  std::string fail_name() {
    fail();
    return "";
  }
  const uint8_t* d_;
  size_t n_, pos_ = 0;
  bool ok_ = true;
};

std::string instance_name(const std::string& instance) {
  return label_of(instance) + "." + kServiceType;
}

sockaddr_in group_address() {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(kPort);
  inet_pton(AF_INET, kGroup, &a.sin_addr);
  return a;
}

Status errno_status(const std::string& what) {
  return unavailable(what + ": " + std::strerror(errno));
}

}  // namespace

std::string key_fingerprint(const ClusterKey& key) {
  return hash_hex(key.public_z85.data(), key.public_z85.size()).substr(0, 16);
}

std::vector<uint8_t> encode_query() {
  Writer w;
  w.u16(static_cast<uint16_t>(std::random_device{}() & 0xFFFF));  // id: a legacy query's
  w.u16(0);                                                       // flags: standard query
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  w.name(kServiceType);
  w.u16(kTypePtr);
  w.u16(kClassIn);
  return w.b;
}

std::vector<uint8_t> encode_response(const ServiceInfo& s) {
  const std::string inst = instance_name(s.instance);
  const std::string host = label_of(s.instance) + ".local";
  in_addr ip{};
  const bool have_ip =
      !s.ip.empty() && s.ip != "0.0.0.0" && inet_pton(AF_INET, s.ip.c_str(), &ip) == 1;
  Writer w;
  w.u16(0);
  w.u16(0x8400);  // response, authoritative
  w.u16(0);
  w.u16(have_ip ? 4 : 3);
  w.u16(0);
  w.u16(0);
  w.record(kServiceType, kTypePtr, kClassIn, 120, [&] { w.name(inst); });
  w.record(inst, kTypeSrv, kClassIn | kCacheFlush, 120, [&] {
    w.u16(0);  // priority
    w.u16(0);  // weight
    w.u16(static_cast<uint16_t>(s.port));
    w.name(host);
  });
  w.record(inst, kTypeTxt, kClassIn | kCacheFlush, 4500, [&] {
    for (const auto& [k, v] : s.txt) {
      const std::string kv = (k + "=" + v).substr(0, 255);
      w.u8(static_cast<uint8_t>(kv.size()));
      w.b.insert(w.b.end(), kv.begin(), kv.end());
    }
  });
  if (have_ip) {
    w.record(host, kTypeA, kClassIn | kCacheFlush, 120, [&] {
      const auto* p = reinterpret_cast<const uint8_t*>(&ip.s_addr);
      w.b.insert(w.b.end(), p, p + 4);
    });
  }
  return w.b;
}

bool is_query_for_service(const uint8_t* data, size_t n) {
  Reader r(data, n);
  r.u16();
  const uint16_t flags = r.u16();
  const uint16_t qd = r.u16();
  r.u16();
  r.u16();
  r.u16();
  if (!r.ok() || (flags & 0x8000)) return false;
  for (int i = 0; i < qd && r.ok(); ++i) {
    const std::string name = r.name();
    const uint16_t type = r.u16();
    r.u16();
    if (r.ok() && name == kServiceType && (type == kTypePtr || type == 255)) return true;
  }
  return false;
}

Result<std::vector<ServiceInfo>> parse_response(const uint8_t* data, size_t n,
                                                const std::string& source_ip) {
  Reader r(data, n);
  r.u16();
  const uint16_t flags = r.u16();
  const uint16_t qd = r.u16(), an = r.u16(), ns = r.u16(), ar = r.u16();
  if (!r.ok()) return corrupt("mDNS message shorter than its header");
  if (!(flags & 0x8000)) return std::vector<ServiceInfo>{};  // a query, not an answer
  for (int i = 0; i < qd && r.ok(); ++i) {
    r.name();
    r.u32();
  }
  std::vector<std::string> instances;
  std::map<std::string, std::pair<int, std::string>> srv;  // instance -> port, target host
  std::map<std::string, std::map<std::string, std::string>> txt;
  std::map<std::string, std::string> a;  // host -> ip
  for (int i = 0; i < an + ns + ar && r.ok(); ++i) {
    const std::string owner = r.name();
    const uint16_t type = r.u16();
    r.u16();
    r.u32();
    const uint16_t len = r.u16();
    const size_t end = r.pos() + len;
    if (!r.ok() || end > n) return corrupt("mDNS record runs past the message");
    if (type == kTypePtr && owner == kServiceType) {
      instances.push_back(r.name());
    } else if (type == kTypeSrv) {
      r.u16();
      r.u16();
      const int port = r.u16();
      srv[owner] = {port, r.name()};
    } else if (type == kTypeTxt) {
      auto& m = txt[owner];
      while (r.ok() && r.pos() < end) {
        const uint8_t l = r.u8();
        if (r.pos() + l > end) return corrupt("mDNS TXT string runs past its record");
        std::string kv(reinterpret_cast<const char*>(data + r.pos()), l);
        r.seek(r.pos() + l);
        const size_t eq = kv.find('=');
        if (eq != std::string::npos) m[lower(kv.substr(0, eq))] = kv.substr(eq + 1);
      }
    } else if (type == kTypeA && len == 4) {
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, data + r.pos(), buf, sizeof buf);
      a[owner] = buf;
    }
    r.seek(end);
  }
  if (!r.ok()) return corrupt("malformed mDNS message");
  std::vector<ServiceInfo> out;
  const std::string suffix = std::string(".") + kServiceType;
  for (const std::string& inst : instances) {
    auto s = srv.find(inst);
    if (s == srv.end() || inst.size() <= suffix.size()) continue;  // needs its SRV record
    ServiceInfo info;
    info.instance = inst.substr(0, inst.size() - suffix.size());
    info.port = s->second.first;
    auto ip = a.find(s->second.second);
    info.ip = ip != a.end() ? ip->second : source_ip;
    if (auto t = txt.find(inst); t != txt.end()) info.txt = t->second;
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::unique_ptr<Advertiser>> Advertiser::start(ServiceInfo self) {
  std::unique_ptr<Advertiser> a(new Advertiser());
  a->self_ = std::move(self);
  a->fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (a->fd_ < 0) return errno_status("mDNS socket");
  int yes = 1;
  ::setsockopt(a->fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  ::setsockopt(a->fd_, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(kPort);
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(a->fd_, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0)
    return errno_status("cannot bind UDP port 5353 for mDNS");
  ip_mreq mreq{};
  inet_pton(AF_INET, kGroup, &mreq.imr_multiaddr);
  mreq.imr_interface.s_addr = htonl(INADDR_ANY);
  if (::setsockopt(a->fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0)
    return errno_status(
        "cannot join the mDNS group 224.0.0.251 (no multicast route? e.g. "
        "ip route add 224.0.0.0/4 dev IFACE)");
  unsigned char ttl = 255, loop = 1;
  ::setsockopt(a->fd_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
  ::setsockopt(a->fd_, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
  a->thread_ = std::thread([p = a.get()] { p->loop(); });
  return a;
}

Advertiser::~Advertiser() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

void Advertiser::loop() {
  const std::vector<uint8_t> answer = encode_response(self_);
  const sockaddr_in group = group_address();
  uint8_t buf[9000];
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n =
        ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0 || !is_query_for_service(buf, static_cast<size_t>(n))) continue;
    // A query from a port other than 5353 is a legacy unicast query: answer that port with the
    // query's id; otherwise answer the group.
    std::vector<uint8_t> out = answer;
    const bool legacy = ntohs(from.sin_port) != kPort;
    if (legacy) {
      out[0] = buf[0];
      out[1] = buf[1];
    }
    const sockaddr_in& to = legacy ? from : group;
    ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  }
}

Result<std::vector<ServiceInfo>> browse(double seconds) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return errno_status("mDNS socket");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  unsigned char ttl = 255, loop = 1;
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
  const std::vector<uint8_t> query = encode_query();
  const sockaddr_in group = group_address();
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(std::max(0.1, seconds)));
  std::map<std::string, ServiceInfo> found;
  int sent = 0;
  uint8_t buf[9000];
  while (Clock::now() < end) {
    // Three queries spread over the window: a lost datagram does not lose a worker.
    if (sent < 3 && Clock::now() >= start + (end - start) * sent / 3) {
      if (::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<const sockaddr*>(&group),
                   sizeof group) < 0 &&
          sent == 0)
        return errno_status("cannot send the mDNS query (no multicast route?)");
      ++sent;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left.count(), 1, 100))) <= 0) continue;
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n =
        ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0) continue;
    char src[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &from.sin_addr, src, sizeof src);
    auto services = parse_response(buf, static_cast<size_t>(n), src);
    if (!services.is_ok()) continue;  // someone else's malformed packet
    for (auto& s : *services) found[s.instance] = s;
  }
  std::vector<ServiceInfo> out;
  for (auto& [name, s] : found) out.push_back(std::move(s));
  return out;
}

}  // namespace ll::net
