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
//   (web/html-name? s)       whether s may be a tag or attribute name
//   (web/render-html node)   hiccup-style data as an HTML string
//   (web/accepted-q ae c)    the q-value an Accept-Encoding value gives coding c
//   (web/get-header hs name) header `name` of a map of headers, in any case
//
// All are leaf natives (they allocate, never call Lisp). The first three
// return their argument itself when nothing changes, so the common case
// allocates nothing.
#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/heap.h"
#include "lisp/http_body.h"
#include "lisp/isolate.h"
#include "lisp/object.h"
#include "lisp/printer.h"
#include "lisp/utf8.h"
#include "util/ascii.h"
#include "util/hex.h"
#include "valk/static_files.h"

namespace valk::lisp {
namespace {

std::string_view view(Value v) {
  return static_cast<String*>(v.o)->view();
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
    if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      bytes += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
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
  // One pass: find_first_of would search the set once per byte.
  size_t i = std::find_if(s.begin(), s.end(), [](char c) { return html_entity(c) != nullptr; }) -
             s.begin();
  if (i == s.size()) {
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

// (web/get-header headers name): the value of header `name` in a map of
// headers, whatever the case of either. The lower-case name is looked up
// first (a request's headers are lower-case), then each string key is
// compared without case (a response map a handler wrote with
// "Content-Type"). nil if absent, or if `headers` is nil.
Value n_get_header(Isolate& iso, Value* args, int argc) {
  if (!args[1].is(Tag::String)) {
    return iso.type_error("web/get-header", "a string name", args[1]);
  }
  Value headers = args[0];
  if (headers.is_nil()) {
    return headers;
  }
  if (!headers.is(Tag::Map)) {
    return iso.type_error("web/get-header", "a map of headers", headers);
  }
  std::string_view name = view(args[1]);
  Value key = args[1];
  if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    key = iso.heap().string(ascii_lowered(name));
  }
  Value found = Value::nil();
  if (map_find(headers, key, &found)) {
    return found;
  }
  map_each(headers, [&](Value k, Value v) {
    if (k.is(Tag::String) && ascii_iequals(view(k), name)) {
      found = v;
      return false;
    }
    return true;
  });
  return found;
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
      std::string_view name = trim_ows(pair.substr(0, eq));
      std::string_view value = trim_ows(pair.substr(eq + 1));
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

// ---------------------------------------------------------------------------
// HTML from data
//
// [:tag attrs? child...] is an element; :div#id.a.b gives the id and
// classes. Strings and other scalars are escaped, nil and false render
// nothing, lists and vectors not starting with a keyword are spliced in,
// {:valk.web/raw s} is sent as it is. The walk uses its own stack, so deep
// data cannot overflow the C++ stack.

bool html_name_ok(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F || c == '"' || c == '\'' || c == '<' || c == '>' || c == '/' ||
        c == '=') {
      return false;
    }
  }
  return true;
}

// (web/html-name? s): true when `s` is non-empty and has none of the
// characters that would end a tag or attribute name early (whitespace,
// quotes, < > / = and controls), so it cannot inject markup.
Value n_html_name_p(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is(Tag::String) && html_name_ok(view(args[0])));
}

// (web/accepted-q accept-encoding coding): the q-value an Accept-Encoding
// header value gives `coding` ("gzip"), the static handler's reading
// (valk::accepted_q); 0 for a nil header.
Value n_accepted_q(Isolate& iso, Value* args, int argc) {
  if (!args[0].is_nil() && !args[0].is(Tag::String)) {
    return iso.type_error("web/accepted-q", "a string or nil", args[0]);
  }
  if (!args[1].is(Tag::String)) {
    return iso.type_error("web/accepted-q", "a coding string", args[1]);
  }
  return Value::number(args[0].is_nil() ? 0 : accepted_q(view(args[0]), view(args[1])));
}

bool is_void_element(std::string_view tag) {
  static const std::string_view kVoid[] = {"area",  "base", "br",   "col",    "embed", "hr", "img",
                                           "input", "link", "meta", "source", "track", "wbr"};
  return std::find(std::begin(kVoid), std::end(kVoid), tag) != std::end(kVoid);
}

void append_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    if (const char* e = html_entity(c)) {
      out += e;
    } else {
      out += c;
    }
  }
}

// The name of a string, keyword or symbol; false for anything else.
bool name_of(Value v, std::string_view* out) {
  if (v.is(Tag::String)) {
    *out = view(v);
    return true;
  }
  if (v.is(Tag::Keyword) || v.is(Tag::Symbol)) {
    *out = static_cast<Symbol*>(v.o)->name->view();
    return true;
  }
  return false;
}

// What `str` gives for a scalar: keywords and symbols without the colon.
std::string scalar_text(Value v) {
  std::string_view name;
  if (name_of(v, &name)) {
    return std::string(name);
  }
  return print_str(v, false);
}

void list_items(Value list, std::vector<Value>* out) {
  for (Value p = list; p.o != nullptr; p = static_cast<Cons*>(p.o)->rest) {
    out->push_back(static_cast<Cons*>(p.o)->first);
  }
}

// An attribute value as text: a map is a style ("k: v; k2: v2", sorted),
// a list or vector is space-separated (class lists).
std::string attr_text(Value v) {
  if (v.is(Tag::Map)) {
    std::vector<std::pair<std::string, std::string>> entries;
    map_each(v, [&](Value k, Value x) {
      entries.emplace_back(scalar_text(k), scalar_text(x));
      return true;
    });
    std::sort(entries.begin(), entries.end());
    std::string out;
    for (const auto& [k, x] : entries) {
      out += out.empty() ? "" : "; ";
      out += k + ": " + x;
    }
    return out;
  }
  if (v.is(Tag::Vector) || v.is(Tag::List)) {
    std::vector<Value> items;
    if (v.is(Tag::Vector)) {
      vector_each(v, [&](Value x) {
        items.push_back(x);
        return true;
      });
    } else {
      list_items(v, &items);
    }
    std::string out;
    for (Value x : items) {
      out += out.empty() ? "" : " ";
      out += scalar_text(x);
    }
    return out;
  }
  return scalar_text(v);
}

class HtmlWriter {
 public:
  explicit HtmlWriter(Isolate& iso) : raw_key_(iso.heap().keyword("valk.web/raw")) {}

  // Renders `root`; on an error returns false with the message in *error.
  // Stops, false with *error empty, once *out is longer than `limit`.
  bool render(Value root, std::string* out, std::string* error, size_t limit) {
    out_ = out;
    error_ = error;
    stack_.push_back({root, {}});
    while (!stack_.empty()) {
      if (out->size() > limit) {
        return false;
      }
      Work w = std::move(stack_.back());
      stack_.pop_back();
      if (!w.close.empty()) {
        *out_ += w.close;
      } else if (!node(w.node)) {
        return false;
      }
    }
    return out->size() <= limit;
  }

 private:
  struct Work {
    Value node;
    std::string close;  // when non-empty, text to append instead of a node
  };

  bool fail(std::string message) {
    *error_ = "html: " + std::move(message);
    return false;
  }

  // Pushes items[from..] so that they render in order.
  void push_children(const std::vector<Value>& items, size_t from) {
    for (size_t i = items.size(); i > from; i--) {
      stack_.push_back({items[i - 1], {}});
    }
  }

  bool node(Value v) {
    switch (v.tag) {
      case Tag::Nil:
        return true;
      case Tag::Bool:
        if (!v.b) {
          return true;
        }
        break;
      case Tag::String:
        append_escaped(*out_, view(v));
        return true;
      case Tag::List: {
        std::vector<Value> items;
        list_items(v, &items);
        push_children(items, 0);
        return true;
      }
      case Tag::Vector: {
        std::vector<Value> items;
        vector_each(v, [&](Value x) {
          items.push_back(x);
          return true;
        });
        if (!items.empty() && items[0].is(Tag::Keyword)) {
          return element(items);
        }
        push_children(items, 0);
        return true;
      }
      case Tag::Map: {
        Value raw;
        if (map_find(v, raw_key_, &raw) && raw.is(Tag::String)) {
          *out_ += view(raw);
          return true;
        }
        return fail("a map is not a node (attributes go second in an element): " +
                    print_str(v, true));
      }
      default:
        break;
    }
    append_escaped(*out_, scalar_text(v));
    return true;
  }

  bool is_attrs(Value v) {
    Value ignored;
    return v.is(Tag::Map) && !map_find(v, raw_key_, &ignored);
  }

  bool element(const std::vector<Value>& items) {
    std::string_view spec = static_cast<Symbol*>(items[0].o)->name->view();
    size_t cut = spec.find_first_of("#.");
    std::string_view tag = spec.substr(0, cut);
    std::string_view id;
    std::vector<std::string_view> classes;
    if (cut != std::string_view::npos) {
      std::string_view rest = spec.substr(cut);
      if (rest[0] == '#') {
        size_t dot = rest.find('.');
        id = rest.substr(1, dot == std::string_view::npos ? std::string_view::npos : dot - 1);
        rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot);
        if (!html_name_ok(id)) {
          return fail("invalid tag :" + std::string(spec));
        }
      }
      while (!rest.empty()) {  // rest is ".a.b"
        size_t next = rest.find('.', 1);
        std::string_view c = rest.substr(1, next == std::string_view::npos ? next : next - 1);
        if (!c.empty()) {
          if (!html_name_ok(c) || c.find('#') != std::string_view::npos) {
            return fail("invalid tag :" + std::string(spec));
          }
          classes.push_back(c);
        }
        rest = next == std::string_view::npos ? std::string_view() : rest.substr(next);
      }
    }
    if (!html_name_ok(tag)) {
      return fail("invalid tag :" + std::string(spec));
    }
    size_t first_child = 1;
    Value attrs = Value::nil();
    if (items.size() > 1 && is_attrs(items[1])) {
      attrs = items[1];
      first_child = 2;
    }
    *out_ += '<';
    *out_ += tag;
    if (!attributes(attrs, id, classes)) {
      return false;
    }
    *out_ += '>';
    if (is_void_element(tag)) {
      for (size_t i = first_child; i < items.size(); i++) {
        if (!items[i].is_nil()) {
          return fail("<" + std::string(tag) + "> is a void element and cannot have children");
        }
      }
      return true;
    }
    stack_.push_back({Value::nil(), "</" + std::string(tag) + ">"});
    push_children(items, first_child);
    return true;
  }

  bool attribute(std::string_view name, Value v) {
    if (!html_name_ok(name)) {
      return fail("invalid attribute name \"" + std::string(name) + "\"");
    }
    if (v.is_nil() || (v.is(Tag::Bool) && !v.b)) {
      return true;
    }
    *out_ += ' ';
    *out_ += name;
    if (v.is(Tag::Bool)) {
      return true;
    }
    *out_ += "=\"";
    append_escaped(*out_, attr_text(v));
    *out_ += '"';
    return true;
  }

  // id first, class second, the rest sorted by name, so the output does
  // not depend on map order. The tag's #id wins over an :id attribute; its
  // .classes come before those of a :class attribute.
  bool attributes(Value attrs, std::string_view tag_id,
                  const std::vector<std::string_view>& classes) {
    Value id_value = Value::nil();
    std::string class_text;
    for (std::string_view c : classes) {
      class_text += class_text.empty() ? "" : " ";
      class_text += c;
    }
    std::vector<std::pair<std::string_view, Value>> others;
    bool ok = true;
    if (attrs.is(Tag::Map)) {
      map_each(attrs, [&](Value k, Value v) {
        std::string_view name;
        if (!name_of(k, &name)) {
          ok = fail("an attribute name must be a keyword or string, got " + print_str(k, true));
          return false;
        }
        if (name == "id") {
          id_value = v;
        } else if (name == "class") {
          if (!v.is_nil() && !(v.is(Tag::Bool) && !v.b)) {
            class_text += class_text.empty() ? "" : " ";
            class_text += attr_text(v);
          }
        } else {
          others.emplace_back(name, v);
        }
        return true;
      });
    }
    if (!ok) {
      return false;
    }
    if (!tag_id.empty()) {
      *out_ += " id=\"";
      append_escaped(*out_, tag_id);
      *out_ += '"';
    } else if (!attribute("id", id_value)) {
      return false;
    }
    if (!class_text.empty()) {
      *out_ += " class=\"";
      append_escaped(*out_, class_text);
      *out_ += '"';
    }
    std::sort(others.begin(), others.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [name, v] : others) {
      if (!attribute(name, v)) {
        return false;
      }
    }
    return true;
  }

  Value raw_key_;
  std::string* out_ = nullptr;
  std::string* error_ = nullptr;
  std::vector<Work> stack_;
};

// (web/render-html node): the HTML text of `node`; raises :html-error for
// a misplaced map, an invalid tag or attribute name, or children of a void
// element. Allocates only the result, so it never meets the collector.
Value n_render_html(Isolate& iso, Value* args, int argc) {
  std::string out;
  std::string error;
  HtmlWriter writer(iso);
  size_t left = iso.allocation_left();
  if (!writer.render(args[0], &out, &error, left)) {
    if (error.empty()) {
      iso.may_allocate("html", out.size());  // raises
      return Value::sentinel(Tag::Exception);
    }
    return iso.raise_error("html-error", error);
  }
  return iso.heap().string(out);
}

// (read-body req) and (read-chunk req) outside `valk serve`, for request
// maps made by hand (tests): :body, and no chunks; and for responses of
// http/request streamed in (:as :stream). A serve worker replaces both with
// versions that also read request bodies streaming in.
Value n_read_body(Isolate& iso, Value* args, int) {
  if (HttpBody* b = http_body_of(args[0], iso.heap().keyword("body-stream"))) {
    return read_http_body(iso, b, true);
  }
  if (!args[0].is(Tag::Map)) {
    return iso.type_error("read-body", "a request", args[0]);
  }
  Value body;
  map_find(args[0], iso.heap().keyword("body"), &body);
  return body;
}

Value n_read_chunk(Isolate& iso, Value* args, int) {
  if (HttpBody* b = http_body_of(args[0], iso.heap().keyword("body-stream"))) {
    return read_http_body(iso, b, false);
  }
  if (!args[0].is(Tag::Map)) {
    return iso.type_error("read-chunk", "a request", args[0]);
  }
  return Value::nil();
}

// (web/label! s): labels the running fiber's work with the string `s`
// (the router: its route), for valk serve's figures by route; returns nil.
Value n_label(Isolate& iso, Value* args, int) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("web/label!", "a string", args[0]);
  }
  iso.current()->label = args[0];
  return Value::nil();
}

}  // namespace

void register_web_natives(Isolate& iso) {
  iso.define_native("read-body", n_read_body, 1, 1);
  iso.define_native("read-chunk", n_read_chunk, 1, 1);
  iso.define_native("web/url-decode", n_url_decode, 1, 2);
  iso.define_native("web/url-encode", n_url_encode, 1, 1);
  iso.define_native("web/escape-html", n_escape_html, 1, 1);
  iso.define_native("web/path-segments", n_path_segments, 1, 1);
  iso.define_native("web/parse-query", n_parse_query, 1, 1);
  iso.define_native("web/parse-cookies", n_parse_cookies, 1, 1);
  iso.define_native("web/html-name?", n_html_name_p, 1, 1);
  iso.define_native("web/accepted-q", n_accepted_q, 2, 2);
  iso.define_native("web/render-html", n_render_html, 1, 1);
  iso.define_native("web/get-header", n_get_header, 2, 2);
  iso.define_native("web/label!", n_label, 1, 1);
}

}  // namespace valk::lisp
