#include "net/payload.h"

namespace ll::net {

Payload payload_copy(const void* data, size_t size) {
  if (size == 0) return Payload();
  return Payload(data, size);
}

Payload payload_view(const void* data, size_t size, std::shared_ptr<const void> owner) {
  if (size == 0) return Payload();
  // The shared_ptr copy rides along as zmq's free hint; dropping it releases the owner.
  auto* hint = new std::shared_ptr<const void>(std::move(owner));
  return Payload(
      const_cast<void*>(data), size,
      [](void*, void* h) { delete static_cast<std::shared_ptr<const void>*>(h); }, hint);
}

}  // namespace ll::net
