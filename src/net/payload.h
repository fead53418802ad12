// Payload = one zmq frame of raw bytes. Tensor and blob data travel as their own frames so
// large buffers are handed to zmq without being copied into a contiguous message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>
#include <zmq.hpp>

namespace ll::net {

using Payload = zmq::message_t;

// Copies the bytes (small buffers, or data whose owner cannot outlive the call).
Payload payload_copy(const void* data, size_t size);

// Zero-copy: the vector moves into the frame and is freed by zmq once sent.
template <typename T>
Payload payload_take(std::vector<T>&& v) {
  if (v.empty()) return Payload();
  auto* holder = new std::vector<T>(std::move(v));
  return Payload(
      holder->data(), holder->size() * sizeof(T),
      [](void*, void* hint) { delete static_cast<std::vector<T>*>(hint); }, holder);
}

// Zero-copy view of bytes kept alive by `owner` until zmq is done with them (e.g. a slice of
// a KV cache or activation buffer shared with the runtime).
Payload payload_view(const void* data, size_t size, std::shared_ptr<const void> owner);

// Received frames have no alignment guarantee: copy out typed values through this.
template <typename T>
std::vector<T> payload_to_vector(const Payload& p) {
  std::vector<T> out(p.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), p.data(), out.size() * sizeof(T));
  return out;
}

}  // namespace ll::net
