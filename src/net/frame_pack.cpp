#include "net/frame_pack.h"

#include "net/byte_io.h"

namespace ll::net {

std::vector<uint8_t> pack_frames(const Frames& frames) {
  std::vector<uint8_t> out;
  ByteWriter w(&out);
  for (const zmq::message_t& f : frames) {
    w.u32(static_cast<uint32_t>(f.size()));
    w.bytes(f.data(), f.size());
  }
  return out;
}

Result<Frames> unpack_frames(const uint8_t* data, size_t size) {
  ByteReader r(data, size);
  Frames frames;
  while (r.remaining() > 0) {
    if (frames.size() >= kMaxParts + 2) return corrupt("packed message has too many frames");
    uint32_t len = 0;
    const uint8_t* bytes = nullptr;
    LL_RETURN_IF_ERROR(r.u32(&len, "frame length"));
    LL_RETURN_IF_ERROR(r.bytes(len, &bytes, "frame bytes"));
    frames.emplace_back(bytes, len);
  }
  return frames;
}

}  // namespace ll::net
