// The cluster key pair (CurveZMQ, Z85 text). Every node of a cluster holds the same pair:
// listening sockets use its secret as CURVE server key, connecting sockets use it as their
// client identity, so only holders of the secret can talk to any node.
//
// Key file format (text, one "name = value" per line, '#' starts a comment):
//   # LinguaLinked cluster key ...
//   public-key = <40 Z85 chars>
//   secret-key = <40 Z85 chars>
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace ll::net {

inline constexpr size_t kZ85KeyChars = 40;

struct ClusterKey {
  std::string public_z85;
  std::string secret_z85;
};

Result<ClusterKey> generate_cluster_key();

// Both keys are 40 valid Z85 characters and the public key is the one the secret implies.
Status validate_cluster_key(const ClusterKey& key);

// `source` names the text in errors (usually the file path).
Result<ClusterKey> parse_cluster_key(std::string_view text, const std::string& source);
std::string format_cluster_key(const ClusterKey& key);

Result<ClusterKey> load_cluster_key(const std::string& path);
// Written with mode 0600; refuses to replace an existing file unless overwrite.
Status save_cluster_key(const std::string& path, const ClusterKey& key, bool overwrite);

}  // namespace ll::net
