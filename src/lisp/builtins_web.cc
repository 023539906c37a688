// Web natives: the byte-level string work of lisp/valk/web.lisp, which would
// be slow one character at a time in Lisp.
//
//   (web/url-decode s)       percent-decodes a path segment
//   (web/url-decode s true)  also turns `+` into a space (query strings, forms)
//   (web/url-encode s)       percent-encodes all but RFC 3986 unreserved bytes
//   (web/escape-html s)      escapes & < > " ' for text and attribute values
//
// All are leaf natives. Each returns its argument itself when there is
// nothing to change, so the common case allocates nothing.
#include <string>
#include <string_view>

#include "lisp/builtins.h"
#include "lisp/heap.h"
#include "lisp/isolate.h"
#include "lisp/object.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace {

std::string_view view(Value v) {
  return static_cast<String*>(v.o)->view();
}

int hex_digit(char c) {
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

// Length of the well-formed UTF-8 sequence at s[i] (positive), or minus the
// length of its longest ill-formed prefix (the "maximal subpart", at least
// one byte), which becomes a single U+FFFD.
int utf8_sequence(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i);
  if (c < 0x80) {
    return 1;
  }
  int n;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    lo = c == 0xE0 ? 0xA0 : 0x80;
    hi = c == 0xED ? 0x9F : 0xBF;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    lo = c == 0xF0 ? 0x90 : 0x80;
    hi = c == 0xF4 ? 0x8F : 0xBF;
  } else {
    return -1;
  }
  if (i + 1 >= s.size() || at(i + 1) < lo || at(i + 1) > hi) {
    return -1;
  }
  for (int k = 2; k < n; k++) {
    if (i + k >= s.size() || (at(i + k) & 0xC0) != 0x80) {
      return -k;
    }
  }
  return n;
}

// Replaces each ill-formed byte of `bytes` with U+FFFD, as the WHATWG URL
// standard's "UTF-8 decode without BOM" does, so the result is a valid
// string whatever a client percent-encoded.
std::string valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    int n = utf8_sequence(bytes, i);
    if (n < 0) {
      utf8_append(out, 0xFFFD);
      i += -n;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  return out;
}

// (web/url-decode s) (web/url-decode s plus-is-space): a `%` not followed by
// two hex digits is kept as it is (WHATWG URL percent-decoding).
Value n_url_decode(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("web/url-decode", "a string", args[0]);
  }
  bool plus = argc > 1 && args[1].truthy();
  std::string_view s = view(args[0]);
  if (s.find('%') == std::string_view::npos &&
      (!plus || s.find('+') == std::string_view::npos)) {
    return args[0];
  }
  std::string bytes;
  bytes.reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      bytes += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else if (c == '+' && plus) {
      bytes += ' ';
    } else {
      bytes += c;
    }
  }
  return iso.heap().string(valid_utf8(bytes));
}

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

// (web/url-encode s): every byte outside A-Z a-z 0-9 - . _ ~ becomes %XX, so
// the result is safe in a path segment, a query key or a query value.
Value n_url_encode(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("web/url-encode", "a string", args[0]);
  }
  std::string_view s = view(args[0]);
  size_t i = 0;
  while (i < s.size() && unreserved(static_cast<unsigned char>(s[i]))) {
    i++;
  }
  if (i == s.size()) {
    return args[0];
  }
  static const char kHex[] = "0123456789ABCDEF";
  std::string out(s.substr(0, i));
  for (; i < s.size(); i++) {
    auto c = static_cast<unsigned char>(s[i]);
    if (unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return iso.heap().string(out);
}

const char* html_entity(char c) {
  switch (c) {
    case '&':
      return "&amp;";
    case '<':
      return "&lt;";
    case '>':
      return "&gt;";
    case '"':
      return "&quot;";
    case '\'':
      return "&#39;";
    default:
      return nullptr;
  }
}

// (web/escape-html s): safe both as element text and as a quoted attribute
// value.
Value n_escape_html(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("web/escape-html", "a string", args[0]);
  }
  std::string_view s = view(args[0]);
  size_t i = s.find_first_of("&<>\"'");
  if (i == std::string_view::npos) {
    return args[0];
  }
  std::string out(s.substr(0, i));
  out.reserve(s.size() + 16);
  for (; i < s.size(); i++) {
    if (const char* e = html_entity(s[i])) {
      out += e;
    } else {
      out += s[i];
    }
  }
  return iso.heap().string(out);
}

}  // namespace

void register_web_natives(Isolate& iso) {
  iso.define_native("web/url-decode", n_url_decode, 1, 2);
  iso.define_native("web/url-encode", n_url_encode, 1, 1);
  iso.define_native("web/escape-html", n_escape_html, 1, 1);
}

}  // namespace valk::lisp
