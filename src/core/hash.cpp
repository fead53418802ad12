#include "core/hash.h"

#include <cstdio>
#include <cstring>

namespace ll {

namespace {
inline uint64_t rotl(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}
inline uint64_t fmix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}
constexpr uint64_t kC1 = 0x87c37b91114253d5ull, kC2 = 0x4cf5ad432745937full;
}  // namespace

void Hasher::block(uint64_t a, uint64_t b) {
  a *= kC1;
  a = rotl(a, 31);
  a *= kC2;
  h1_ ^= a;
  h1_ = rotl(h1_, 27) + h2_;
  h1_ = h1_ * 5 + 0x52dce729;
  b *= kC2;
  b = rotl(b, 33);
  b *= kC1;
  h2_ ^= b;
  h2_ = rotl(h2_, 31) + h1_;
  h2_ = h2_ * 5 + 0x38495ab5;
}

void Hasher::update(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  total_ += n;
  while (n > 0 && buf_n_ > 0) {
    buf_[buf_n_++] = *p++;
    --n;
    if (buf_n_ == 16) {
      uint64_t a, b;
      std::memcpy(&a, buf_, 8);
      std::memcpy(&b, buf_ + 8, 8);
      block(a, b);
      buf_n_ = 0;
    }
  }
  while (n >= 16) {
    uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + 8, 8);
    block(a, b);
    p += 16;
    n -= 16;
  }
  std::memcpy(buf_ + buf_n_, p, n);
  buf_n_ += n;
}

std::string Hasher::hex() const {
  uint8_t tail[16] = {0};
  std::memcpy(tail, buf_, buf_n_);
  uint64_t a, b;
  std::memcpy(&a, tail, 8);
  std::memcpy(&b, tail + 8, 8);
  Hasher h = *this;
  h.block(a ^ buf_n_, b);
  uint64_t x = h.h1_ ^ total_, y = h.h2_ ^ total_;
  x += y;
  y += x;
  x = fmix(x);
  y = fmix(y);
  x += y;
  y += x;
  char out[33];
  std::snprintf(out, sizeof out, "%016llx%016llx", static_cast<unsigned long long>(x),
                static_cast<unsigned long long>(y));
  return out;
}

std::string hash_hex(const void* data, size_t n) {
  Hasher h;
  h.update(data, n);
  return h.hex();
}

}  // namespace ll
