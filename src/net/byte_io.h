// Little-endian primitives for the wire format. The reader is the only thing that touches
// untrusted bytes, so every read is bounds-checked and failures name what was being read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace ll::net {

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>* out) : out_(out) {}

  void u8(uint8_t v) { out_->push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void bytes(const void* data, size_t n);
  // u32 byte length, then the bytes (no terminator).
  void str(std::string_view s);
  size_t size() const { return out_->size(); }
  // Overwrites already-written bytes (header fields known only at the end).
  void patch_u16(size_t at, uint16_t v);
  void patch_u32(size_t at, uint32_t v);
  void patch_u64(size_t at, uint64_t v);

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_->push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t>* out_;
};

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  // Each read fails with kCorrupt "truncated <what>: ..." instead of reading past the end.
  Status u8(uint8_t* v, const char* what);
  Status u16(uint16_t* v, const char* what);
  Status u32(uint32_t* v, const char* what);
  Status u64(uint64_t* v, const char* what);
  Status i32(int32_t* v, const char* what);
  Status i64(int64_t* v, const char* what);
  Status bytes(size_t n, const uint8_t** out, const char* what);
  // u32 length-prefixed string; max_len bounds it before anything is allocated.
  Status str(std::string* s, size_t max_len, const char* what);

 private:
  Status need(size_t n, const char* what) const;
  uint64_t get(int n);
  const uint8_t* p_;
  const uint8_t* end_;
};

// 'name' (at most 64 bytes of it) for error messages.
std::string quote_name(const std::string& s);

}  // namespace ll::net
