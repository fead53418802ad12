#include "tokenizer/unicode.h"

#include <algorithm>

namespace ll::tok {

namespace detail {

uint8_t char_flags_slow(uint32_t cp) {
  if (cp > 0x10FFFF) return uint8_t(CharClass::kOther);
  // Runs are sorted by start; find the last run starting at or before cp.
  const uint32_t* begin = kUnicodeRuns;
  const uint32_t* end = kUnicodeRuns + kUnicodeRunCount;
  const uint32_t key = (cp << 8) | 0xFF;
  const uint32_t* it = std::upper_bound(begin, end, key);
  return it == begin ? uint8_t(CharClass::kOther) : uint8_t(it[-1] & 0xFF);
}

}  // namespace detail

bool is_incomplete_utf8(std::string_view s) {
  if (s.empty()) return false;
  const auto* u = reinterpret_cast<const uint8_t*>(s.data());
  const int need = utf8_seq_len(u[0]);
  if (need <= 1 || static_cast<int>(s.size()) >= need) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if ((u[i] & 0xC0) != 0x80) return false;
  }
  // The second byte's range rules out overlongs, surrogates and > U+10FFFF early, so a
  // prefix like E0 80 is reported as invalid now rather than held back forever.
  if (s.size() >= 2) {
    const uint8_t b1 = u[1];
    if (u[0] == 0xE0 && b1 < 0xA0) return false;
    if (u[0] == 0xED && b1 > 0x9F) return false;
    if (u[0] == 0xF0 && b1 < 0x90) return false;
    if (u[0] == 0xF4 && b1 > 0x8F) return false;
  }
  return true;
}

size_t utf8_emittable_prefix(std::string_view s) {
  // Only the last three bytes can hold an unfinished char.
  const size_t lo = s.size() > 3 ? s.size() - 3 : 0;
  for (size_t start = lo; start < s.size(); ++start) {
    // A lead byte can never sit inside an earlier valid char, so no realignment is needed.
    if (is_incomplete_utf8(s.substr(start))) return start;
  }
  return s.size();
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace ll::tok
