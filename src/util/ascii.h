// ASCII case folding for protocol text (header names, file extensions),
// where the C locale's tolower would be a function call per byte and
// non-ASCII bytes must stay as they are.
#pragma once

#include <string>
#include <string_view>

namespace valk {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline void lower_in_place(std::string& s) {
  for (char& c : s) {
    c = ascii_lower(c);
  }
}

inline std::string ascii_lowered(std::string_view s) {
  std::string out(s);
  lower_in_place(out);
  return out;
}

}  // namespace valk
