#include "net/byte_io.h"

#include <cstring>

namespace ll::net {

void ByteWriter::bytes(const void* data, size_t n) {
  if (n == 0) return;
  const auto* p = static_cast<const uint8_t*>(data);
  out_->insert(out_->end(), p, p + n);
}

void ByteWriter::str(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  bytes(s.data(), s.size());
}

void ByteWriter::patch_u16(size_t at, uint16_t v) {
  for (int i = 0; i < 2; ++i) (*out_)[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

void ByteWriter::patch_u32(size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*out_)[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

void ByteWriter::patch_u64(size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) (*out_)[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

Status ByteReader::need(size_t n, const char* what) const {
  if (remaining() >= n) return Status::ok();
  return corrupt(std::string("truncated ") + what + ": need " + std::to_string(n) +
                 " bytes, only " + std::to_string(remaining()) + " left");
}

uint64_t ByteReader::get(int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p_[i]) << (8 * i);
  p_ += n;
  return v;
}

Status ByteReader::u8(uint8_t* v, const char* what) {
  LL_RETURN_IF_ERROR(need(1, what));
  *v = static_cast<uint8_t>(get(1));
  return Status::ok();
}

Status ByteReader::u16(uint16_t* v, const char* what) {
  LL_RETURN_IF_ERROR(need(2, what));
  *v = static_cast<uint16_t>(get(2));
  return Status::ok();
}

Status ByteReader::u32(uint32_t* v, const char* what) {
  LL_RETURN_IF_ERROR(need(4, what));
  *v = static_cast<uint32_t>(get(4));
  return Status::ok();
}

Status ByteReader::u64(uint64_t* v, const char* what) {
  LL_RETURN_IF_ERROR(need(8, what));
  *v = get(8);
  return Status::ok();
}

Status ByteReader::i32(int32_t* v, const char* what) {
  uint32_t u = 0;
  LL_RETURN_IF_ERROR(u32(&u, what));
  *v = static_cast<int32_t>(u);
  return Status::ok();
}

Status ByteReader::i64(int64_t* v, const char* what) {
  uint64_t u = 0;
  LL_RETURN_IF_ERROR(u64(&u, what));
  *v = static_cast<int64_t>(u);
  return Status::ok();
}

Status ByteReader::bytes(size_t n, const uint8_t** out, const char* what) {
  LL_RETURN_IF_ERROR(need(n, what));
  *out = p_;
  p_ += n;
  return Status::ok();
}

Status ByteReader::str(std::string* s, size_t max_len, const char* what) {
  uint32_t len = 0;
  LL_RETURN_IF_ERROR(u32(&len, what));
  if (len > max_len) {
    return corrupt(std::string(what) + " length " + std::to_string(len) + " exceeds limit " +
                   std::to_string(max_len));
  }
  if (len > remaining()) {
    return corrupt(std::string(what) + " length " + std::to_string(len) + " but only " +
                   std::to_string(remaining()) + " bytes left");
  }
  s->assign(reinterpret_cast<const char*>(p_), len);
  p_ += len;
  return Status::ok();
}

// Built by appending: GCC 12 misreports `"'" + s` under -Wrestrict.
std::string quote_name(const std::string& s) {
  std::string out(1, '\'');
  out.append(s, 0, 64);
  out += '\'';
  return out;
}

}  // namespace ll::net
