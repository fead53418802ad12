// libFuzzer target for the message decoder. Input = a packed multipart message
// (net/frame_pack.h: repeated [u32 length][bytes]), i.e. exactly what a peer can put on the
// wire. Properties: never crash or over-read; whatever decodes must re-encode, and the
// re-encoded frames must decode to the same bytes again.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "net/codec.h"
#include "net/frame_pack.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ll::net;
  auto frames = unpack_frames(data, size);
  if (!frames.is_ok()) return 0;
  auto msg = decode(frames.value());
  if (!msg.is_ok()) return 0;
  auto again = encode(std::move(msg).value());
  if (!again.is_ok()) {
    std::fprintf(stderr, "decoded message does not re-encode: %s\n",
                 again.status().to_string().c_str());
    std::abort();
  }
  const std::vector<uint8_t> first = pack_frames(again.value());
  auto msg2 = decode(again.value());
  if (!msg2.is_ok()) {
    std::fprintf(stderr, "re-encoded message does not decode: %s\n",
                 msg2.status().to_string().c_str());
    std::abort();
  }
  auto third = encode(std::move(msg2).value());
  if (!third.is_ok() || pack_frames(third.value()) != first) {
    std::fprintf(stderr, "encode(decode(x)) is not stable\n");
    std::abort();
  }
  return 0;
}
