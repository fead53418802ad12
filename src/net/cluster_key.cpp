#include "net/cluster_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/log.h"

namespace ll::net {

namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

Status check_z85_key(const std::string& z85, const char* which) {
  if (z85.size() != kZ85KeyChars) {
    return invalid_argument(std::string(which) + " must be " + std::to_string(kZ85KeyChars) +
                            " Z85 characters, got " + std::to_string(z85.size()));
  }
  for (char c : z85) {
    if (c <= ' ' || c > '~') return invalid_argument(std::string(which) + " is not valid Z85 text");
  }
  uint8_t raw[32];
  if (zmq_z85_decode(raw, z85.c_str()) == nullptr) {
    return invalid_argument(std::string(which) + " is not valid Z85 text");
  }
  return Status::ok();
}

}  // namespace

Result<ClusterKey> generate_cluster_key() {
  char pub[kZ85KeyChars + 1], sec[kZ85KeyChars + 1];
  if (zmq_curve_keypair(pub, sec) != 0) {
    return unsupported(std::string("cannot generate a CURVE key pair: ") + zmq_strerror(errno) +
                       " (libzmq built without CURVE?)");
  }
  return ClusterKey{pub, sec};
}

Status validate_cluster_key(const ClusterKey& key) {
  LL_RETURN_IF_ERROR(check_z85_key(key.public_z85, "public-key"));
  LL_RETURN_IF_ERROR(check_z85_key(key.secret_z85, "secret-key"));
  char derived[kZ85KeyChars + 1];
  if (zmq_curve_public(derived, key.secret_z85.c_str()) != 0) {
    return unsupported("cannot derive the public key (libzmq built without CURVE?)");
  }
  if (key.public_z85 != derived) {
    return invalid_argument("public-key does not belong to secret-key");
  }
  return Status::ok();
}

Result<ClusterKey> parse_cluster_key(std::string_view text, const std::string& source) {
  ClusterKey key;
  std::istringstream in{std::string(text)};
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    const std::string where = source + ":" + std::to_string(line_no) + ": ";
    size_t eq = t.find('=');
    if (eq == std::string::npos) {
      return invalid_argument(where + "expected 'public-key = ...' or 'secret-key = ...'");
    }
    std::string name = trim(std::string_view(t).substr(0, eq));
    std::string value = trim(std::string_view(t).substr(eq + 1));
    std::string* slot = name == "public-key"   ? &key.public_z85
                        : name == "secret-key" ? &key.secret_z85
                                               : nullptr;
    if (!slot) return invalid_argument(where + "unknown field '" + name + "'");
    if (!slot->empty()) return invalid_argument(where + "duplicate " + name);
    if (value.empty()) return invalid_argument(where + name + " is empty");
    *slot = value;
  }
  if (key.public_z85.empty()) return invalid_argument(source + ": missing public-key");
  if (key.secret_z85.empty()) return invalid_argument(source + ": missing secret-key");
  Status st = validate_cluster_key(key);
  if (!st.is_ok()) return invalid_argument(source + ": " + st.message());
  return key;
}

std::string format_cluster_key(const ClusterKey& key) {
  return "# LinguaLinked cluster key (CurveZMQ, Z85). Keep it secret: whoever holds this\n"
         "# file can join the cluster and read its traffic. Give it only to your own nodes.\n"
         "public-key = " +
         key.public_z85 + "\nsecret-key = " + key.secret_z85 + "\n";
}

Result<ClusterKey> load_cluster_key(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open cluster key file " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << f.rdbuf();
  if (text.str().size() > 64 * 1024) {
    return invalid_argument(path + ": too large to be a cluster key file");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    LL_LOG_WARN("cluster key file %s is readable by other users (mode %03o); chmod 600 it",
                path.c_str(), static_cast<unsigned>(st.st_mode & 0777));
  }
  return parse_cluster_key(text.str(), path);
}

Status save_cluster_key(const std::string& path, const ClusterKey& key, bool overwrite) {
  LL_RETURN_IF_ERROR(validate_cluster_key(key));
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return invalid_argument(path + " already exists (use --force to replace it)");
    return io_error("cannot create " + path + ": " + std::strerror(errno));
  }
  // An existing file keeps its old mode under O_TRUNC; the secret must not stay readable.
  ::fchmod(fd, 0600);
  const std::string text = format_cluster_key(key);
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status st = io_error("cannot write " + path + ": " + std::strerror(errno));
      ::close(fd);
      return st;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return io_error("cannot write " + path + ": " + std::strerror(errno));
  return Status::ok();
}

}  // namespace ll::net
