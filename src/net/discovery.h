// LAN discovery without a daemon: DNS-SD records (RFC 6763) over multicast DNS (RFC 6762), service
// type _lingualinked._tcp.local. A worker started with --advertise answers PTR queries for the
// type with PTR, SRV and TXT records (version, name, arch, mem, keyfp); `run --discover` sends
// one query from an ephemeral port (a "legacy unicast" query, answered to that port), collects
// the answers for a while and keeps the workers whose key fingerprint matches its own key.
// Standard records, so avahi-browse sees the workers too; no avahi-daemon is needed.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "net/cluster_key.h"

namespace ll::net {

inline constexpr const char* kServiceType = "_lingualinked._tcp.local";

struct ServiceInfo {
  std::string instance;  // DNS label, e.g. "w1" (the worker's name)
  std::string ip;        // IPv4, from an A record or else the answer's source address
  int port = 0;
  std::map<std::string, std::string> txt;  // version, name, arch, mem, keyfp

  std::string address() const { return "tcp://" + ip + ":" + std::to_string(port); }
};

// 16 hex digits naming a cluster key without revealing its secret (a hash of the public half).
std::string key_fingerprint(const ClusterKey& key);

// The wire formats, public for tests.
std::vector<uint8_t> encode_query();
std::vector<uint8_t> encode_response(const ServiceInfo& s);
// Every instance of kServiceType in a response; `source_ip` fills in a missing A record.
Result<std::vector<ServiceInfo>> parse_response(const uint8_t* data, size_t n,
                                                const std::string& source_ip);
bool is_query_for_service(const uint8_t* data, size_t n);

// Answers queries on 224.0.0.251:5353 until destroyed.
class Advertiser {
 public:
  static Result<std::unique_ptr<Advertiser>> start(ServiceInfo self);
  ~Advertiser();
  Advertiser(const Advertiser&) = delete;
  Advertiser& operator=(const Advertiser&) = delete;

 private:
  Advertiser() = default;
  void loop();
  ServiceInfo self_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Queries (three times, spread over the window) and collects answers for `seconds`;
// one entry per instance, sorted by instance name.
Result<std::vector<ServiceInfo>> browse(double seconds);

}  // namespace ll::net
