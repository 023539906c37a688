// UTF-8 helpers. Strings are stored as UTF-8; `count`, `subs` and friends
// index by code point.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace valk::lisp {

// Number of code points in `s` (continuation bytes are not counted).
// Eight bytes at a time: a continuation byte (10xxxxxx) is one whose bit 7
// is set and whose bit 6 (shifted into bit 7's place) is clear.
inline size_t utf8_count(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  // Most strings are ASCII (header names and values, paths, keys): one OR
  // per word finds that out, and their count is their size.
  uint64_t high = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    high |= w;
  }
  for (; i < n; i++) {
    high |= static_cast<unsigned char>(p[i]);
  }
  if ((high & 0x8080808080808080ull) == 0) {
    return n;
  }
  size_t continuations = 0;
  i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    continuations += std::popcount(w & ~(w << 1) & 0x8080808080808080ull);
  }
  for (; i < n; i++) {
    continuations += (static_cast<unsigned char>(p[i]) & 0xC0) == 0x80;
  }
  return n - continuations;
}

// Byte offset of code point `index` in `s`; s.size() if index is the count.
inline size_t utf8_offset(std::string_view s, size_t index) {
  size_t i = 0;
  while (i < s.size() && index > 0) {
    i++;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) {
      i++;
    }
    index--;
  }
  return i;
}

// Length of the well-formed UTF-8 sequence at p (p < end, *p >= 0x80), or 0
// if it is ill-formed: overlong forms, encoded surrogates and code points
// past U+10FFFF are rejected (Unicode table 3-7).
inline size_t utf8_sequence(const char* p, const char* end) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(p[i]); };
  auto cont = [&](size_t i, unsigned lo, unsigned hi) {
    return p + i < end && b(i) >= lo && b(i) <= hi;
  };
  unsigned c = b(0);
  if (c >= 0xC2 && c <= 0xDF) {
    return cont(1, 0x80, 0xBF) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80;
    unsigned hi = c == 0xED ? 0x9F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80;
    unsigned hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

// Whether all of `s` is well-formed UTF-8.
inline bool utf8_valid(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    if (static_cast<unsigned char>(*p) < 0x80) {
      p++;
      continue;
    }
    size_t n = utf8_sequence(p, end);
    if (n == 0) {
      return false;
    }
    p += n;
  }
  return true;
}

// Appends the UTF-8 encoding of `cp` to `out`.
inline void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace valk::lisp
