// Applies the cluster's CurveZMQ roles to raw zmq sockets (before bind/connect).
#pragma once

#include "core/status.h"
#include "net/cluster_key.h"

namespace ll::net {

// Name under which servers ask the ZAP handler; also lets logs tell our sockets apart.
inline constexpr const char* kZapDomain = "lingualinked";

// Listening side: CURVE server with the cluster secret; ZAP decides who may connect.
Status make_curve_server(void* socket, const ClusterKey& cluster);

// Connecting side: expects the server to hold the cluster secret and presents `own` (the
// cluster key pair itself in normal operation) as its long-term identity.
Status make_curve_client(void* socket, const ClusterKey& cluster, const ClusterKey& own);

// zmq_setsockopt with a Status that names the option.
Status set_socket_option(void* socket, int option, const void* value, size_t size,
                         const char* what);
Status set_socket_int(void* socket, int option, int value, const char* what);

}  // namespace ll::net
