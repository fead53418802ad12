// A fast 128-bit content hash for cache keys (weights, model files). Not cryptographic:
// integrity on the wire comes from CurveZMQ; this only names content.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ll {

class Hasher {
 public:
  void update(const void* data, size_t n);
  std::string hex() const;  // 32 hex digits

 private:
  void block(uint64_t a, uint64_t b);
  uint64_t h1_ = 0x243f6a8885a308d3ull, h2_ = 0x13198a2e03707344ull;
  uint64_t total_ = 0;
  uint8_t buf_[16];
  size_t buf_n_ = 0;
};

std::string hash_hex(const void* data, size_t n);

}  // namespace ll
