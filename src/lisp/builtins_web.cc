// Web natives: the byte-level string work of lisp/valk/web.lisp, which would
// be slow one character at a time in Lisp.
//
//   (web/url-decode s)       percent-decodes a path segment
//   (web/url-decode s true)  also turns `+` into a space (query strings, forms)
//   (web/url-encode s)       percent-encodes all but RFC 3986 unreserved bytes
//   (web/escape-html s)      escapes & < > " ' for text and attribute values
//   (web/path-segments path) the decoded segments of a request path
//   (web/parse-query s)      a query string or form body as a map
//   (web/parse-cookies s)    a Cookie header as a map
//
// All are leaf natives (they allocate, never call Lisp). The first three
// return their argument itself when nothing changes, so the common case
// allocates nothing.
#include <string>
#include <string_view>
#include <vector>

#include "lisp/builtins.h"
#include "lisp/collections.h"
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

// Percent-decodes `s` into a string value; `+` becomes a space if `plus`.
// A `%` not followed by two hex digits is kept as it is (WHATWG URL
// percent-decoding). Returns `original` itself when nothing changes, if
// the caller has it.
Value decode(Isolate& iso, std::string_view s, bool plus, Value original = Value::nil()) {
  if (s.find('%') == std::string_view::npos && (!plus || s.find('+') == std::string_view::npos)) {
    return original.is_nil() ? iso.heap().string(s) : original;
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

// (web/url-decode s) (web/url-decode s plus-is-space)
Value n_url_decode(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("web/url-decode", "a string", args[0]);
  }
  return decode(iso, view(args[0]), argc > 1 && args[1].truthy(), args[0]);
}

// (web/path-segments "/a/b%20c/") → ["a" "b c" ""]; "/" gives [] and a
// path not starting with "/" gives nil. Segments are split before they are
// decoded, so an encoded slash stays inside its segment.
Value n_path_segments(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("web/path-segments", "a string", args[0]);
  }
  std::string_view path = view(args[0]);
  if (path.empty() || path[0] != '/') {
    return Value::nil();
  }
  std::vector<Value> segments;
  if (path.size() > 1) {
    size_t from = 1;
    while (true) {
      size_t slash = path.find('/', from);
      size_t end = slash == std::string_view::npos ? path.size() : slash;
      segments.push_back(decode(iso, path.substr(from, end - from), false));
      if (slash == std::string_view::npos) {
        break;
      }
      from = slash + 1;
    }
  }
  return vector_from(iso.heap(), segments.data(), segments.size());
}

// (web/parse-query "a=1&b=x+y&a=2") → {:a ["1" "2"] :b "x y"}: keys and
// values decoded with `+` as a space, a key without `=` gets "", empty
// pairs are skipped, a repeated key collects its values in a vector.
Value n_parse_query(Isolate& iso, Value* args, int argc) {
  if (args[0].is_nil()) {
    return map_from(iso.heap(), nullptr, 0);
  }
  if (!args[0].is(Tag::String)) {
    return iso.type_error("web/parse-query", "a string or nil", args[0]);
  }
  Heap& h = iso.heap();
  std::string_view s = view(args[0]);
  Value m = map_from(h, nullptr, 0);
  size_t from = 0;
  while (from <= s.size()) {
    size_t amp = s.find('&', from);
    size_t end = amp == std::string_view::npos ? s.size() : amp;
    std::string_view pair = s.substr(from, end - from);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      std::string_view raw_key = pair.substr(0, eq);
      Value key_string = decode(iso, raw_key, true);
      Value key = h.keyword(static_cast<String*>(key_string.o)->view());
      Value value =
          eq == std::string_view::npos ? h.string("") : decode(iso, pair.substr(eq + 1), true);
      Value old;
      if (!map_find(m, key, &old)) {
        m = map_assoc(h, m, key, value);
      } else if (old.is(Tag::Vector)) {
        m = map_assoc(h, m, key, vector_conj(h, old, value));
      } else {
        Value both[2] = {old, value};
        m = map_assoc(h, m, key, vector_from(h, both, 2));
      }
    }
    if (amp == std::string_view::npos) {
      break;
    }
    from = amp + 1;
  }
  return m;
}

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
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

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// (web/parse-cookies "a=1; b=\"x%20y\"") → {"a" "1" "b" "x y"}: names as
// sent, values unquoted and percent-decoded (no `+` rule). The first of two
// equal names wins, as browsers send the most specific cookie first; pairs
// without `=` or without a name are skipped.
Value n_parse_cookies(Isolate& iso, Value* args, int argc) {
  Heap& h = iso.heap();
  if (args[0].is_nil()) {
    return map_from(h, nullptr, 0);
  }
  if (!args[0].is(Tag::String)) {
    return iso.type_error("web/parse-cookies", "a string or nil", args[0]);
  }
  std::string_view s = view(args[0]);
  Value m = map_from(h, nullptr, 0);
  size_t from = 0;
  while (from <= s.size()) {
    size_t semi = s.find(';', from);
    size_t end = semi == std::string_view::npos ? s.size() : semi;
    std::string_view pair = s.substr(from, end - from);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos) {
      std::string_view name = trim_spaces(pair.substr(0, eq));
      std::string_view value = trim_spaces(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      Value key = h.string(name);
      Value old;
      if (!name.empty() && !map_find(m, key, &old)) {
        m = map_assoc(h, m, key, decode(iso, value, false));
      }
    }
    if (semi == std::string_view::npos) {
      break;
    }
    from = semi + 1;
  }
  return m;
}

}  // namespace

void register_web_natives(Isolate& iso) {
  iso.define_native("web/url-decode", n_url_decode, 1, 2);
  iso.define_native("web/url-encode", n_url_encode, 1, 1);
  iso.define_native("web/escape-html", n_escape_html, 1, 1);
  iso.define_native("web/path-segments", n_path_segments, 1, 1);
  iso.define_native("web/parse-query", n_parse_query, 1, 1);
  iso.define_native("web/parse-cookies", n_parse_cookies, 1, 1);
}

}  // namespace valk::lisp
