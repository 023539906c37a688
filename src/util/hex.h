// The value of a hexadecimal digit, shared by every parser that decodes
// escapes (%XX in URLs, \uXXXX in JSON and Lisp strings).
#pragma once

namespace valk {

// 0-15 for 0-9, a-f and A-F; -1 for anything else.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace valk
