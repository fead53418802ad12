// A multipart message flattened into one buffer: repeated [u32 length][bytes]. Used to store
// captured messages (fuzz corpus, debugging dumps) and to drive the decoder from a file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "net/codec.h"

namespace ll::net {

std::vector<uint8_t> pack_frames(const Frames& frames);

// Rejects a length that runs past the end, and more than kMaxParts + 2 frames.
Result<Frames> unpack_frames(const uint8_t* data, size_t size);

}  // namespace ll::net
