#include "net/socket_security.h"

#include <zmq.h>
#include <cerrno>
#include <cstring>
#include <string>

namespace ll::net {

Status set_socket_option(void* socket, int option, const void* value, size_t size,
                         const char* what) {
  if (zmq_setsockopt(socket, option, value, size) != 0) {
    return internal_error(std::string("cannot set socket option ") + what + ": " +
                          zmq_strerror(errno));
  }
  return Status::ok();
}

Status set_socket_int(void* socket, int option, int value, const char* what) {
  return set_socket_option(socket, option, &value, sizeof value, what);
}

Status make_curve_server(void* socket, const ClusterKey& cluster) {
  LL_RETURN_IF_ERROR(set_socket_int(socket, ZMQ_CURVE_SERVER, 1, "CURVE_SERVER"));
  LL_RETURN_IF_ERROR(set_socket_option(socket, ZMQ_CURVE_SECRETKEY, cluster.secret_z85.c_str(),
                                       cluster.secret_z85.size(), "CURVE_SECRETKEY"));
  return set_socket_option(socket, ZMQ_ZAP_DOMAIN, kZapDomain, std::strlen(kZapDomain),
                           "ZAP_DOMAIN");
}

Status make_curve_client(void* socket, const ClusterKey& cluster, const ClusterKey& own) {
  LL_RETURN_IF_ERROR(set_socket_option(socket, ZMQ_CURVE_SERVERKEY, cluster.public_z85.c_str(),
                                       cluster.public_z85.size(), "CURVE_SERVERKEY"));
  LL_RETURN_IF_ERROR(set_socket_option(socket, ZMQ_CURVE_PUBLICKEY, own.public_z85.c_str(),
                                       own.public_z85.size(), "CURVE_PUBLICKEY"));
  return set_socket_option(socket, ZMQ_CURVE_SECRETKEY, own.secret_z85.c_str(),
                           own.secret_z85.size(), "CURVE_SECRETKEY");
}

}  // namespace ll::net
