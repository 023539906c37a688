#include "lisp/reader.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "lisp/collections.h"
#include "lisp/utf8.h"

namespace valk::lisp {

namespace {

// ---------------------------------------------------------------------------
// Characters

bool is_whitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == ',';
}

bool is_control(char c) {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
}

// Characters that end a symbol, number or keyword. `'`, `#` and `%` are not
// among them, so `foo'`, `x#` (syntax-quote gensyms) and `%1` are tokens.
// Control characters end a token so that the next read reports them.
bool is_terminator(char c) {
  return is_whitespace(c) || is_control(c) || c == '(' || c == ')' || c == '[' || c == ']' ||
         c == '{' || c == '}' || c == '"' || c == ';' || c == '@' || c == '^' || c == '`' ||
         c == '~' || c == '\\';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
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

// Byte offset of the first byte in s[from..] that does not start or
// continue a well-formed UTF-8 sequence (no overlongs, no surrogates, at
// most U+10FFFF); s.size() if there is none.
size_t first_invalid_utf8(std::string_view s, size_t from) {
  size_t i = from;
  size_t n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      lo = c == 0xE0 ? 0xA0 : 0x80;
      hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      return i;
    }
    if (n - i < len) {
      return i;
    }
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) {
      return i;
    }
    for (size_t k = 2; k < len; k++) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        return i;
      }
    }
    i += len;
  }
  return n;
}

std::string pos_text(SourcePos p) {
  return std::to_string(p.line) + ":" + std::to_string(p.column);
}

// A short rendering of a literal for error messages. The printer lives
// elsewhere; the reader only needs keys and single tokens.
std::string describe(Value v) {
  switch (v.tag) {
    case Tag::Nil:
      return "nil";
    case Tag::Bool:
      return v.b ? "true" : "false";
    case Tag::Int:
      return std::to_string(v.i);
    case Tag::Double: {
      char buf[32];
      snprintf(buf, sizeof buf, "%g", v.d);
      return buf;
    }
    case Tag::String: {
      std::string_view s = static_cast<String*>(v.o)->view();
      if (s.size() > 40) {
        return "\"" + std::string(s.substr(0, utf8_offset(s, 37))) + "...\"";
      }
      return "\"" + std::string(s) + "\"";
    }
    case Tag::Symbol:
      return std::string(static_cast<Symbol*>(v.o)->name->view());
    case Tag::Keyword:
      return ":" + std::string(static_cast<Symbol*>(v.o)->name->view());
    case Tag::List:
      return "a list";
    case Tag::Vector:
      return "a vector";
    case Tag::Map:
      return "a map";
    case Tag::Set:
      return "a set";
    default:
      return "a value";
  }
}

// ---------------------------------------------------------------------------
// The reader

enum class FrameKind : uint8_t {
  List,
  Vector,
  Map,
  Set,
  Fn,       // #( ... ): a list that becomes (fn [args] list)
  Wrap,     // ' ` ~ ~@ @: wraps the next form as (symbol form)
  Discard,  // #_: drops the next form
};

// An open form: a collection waiting for its closing delimiter, or a
// reader macro waiting for the form it applies to.
struct Frame {
  FrameKind kind;
  SourcePos pos;       // of the opening delimiter or the reader macro
  const char* opener;  // its spelling, for messages
  size_t first_item;   // index in Reader::items_ of this frame's first item
  Value wrap_symbol;   // Wrap: quote, syntax-quote, ...
};

// A form read inside an open collection, with where it started (for
// duplicate-key errors).
struct Item {
  Value value;
  SourcePos pos;
};

// The most arguments #() may name, as in Clojure.
constexpr int kMaxFnArgs = 20;

class Reader {
 public:
  Reader(Heap& heap, std::string_view src, std::string_view file_name, size_t offset)
      : heap_(heap), src_(src), pos_(offset) {
    file_ = heap.file_id(file_name);
    for (size_t i = 0; i < offset && i < src.size(); i++) {
      step(src[i]);
    }
    // Input past the first invalid UTF-8 byte is never looked at: the
    // reader sees an end of input there, and every end-of-input path
    // reports the invalid byte instead.
    limit_ = first_invalid_utf8(src, offset);
  }

  // Reads the next top-level form into *out. On Error (and Incomplete),
  // error() says what is wrong.
  ReadStatus next(Value* out);
  const ReadError& error() const { return error_; }
  size_t offset() const { return pos_; }

 private:
  // ---- scanning ----
  bool at_end() const { return pos_ >= limit_; }
  char peek(size_t ahead = 0) const { return pos_ + ahead < limit_ ? src_[pos_ + ahead] : '\0'; }
  void step(char c) {
    if (c == '\n') {
      line_++;
      column_ = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      column_++;
    }
  }
  void advance() { step(src_[pos_++]); }
  void advance_code_point() {
    advance();
    while (!at_end() && (static_cast<unsigned char>(src_[pos_]) & 0xC0) == 0x80) {
      advance();
    }
  }
  SourcePos here() const { return SourcePos{file_, line_, column_}; }
  void skip_whitespace_and_comments();
  // The bytes of a symbol-like token starting here (possibly empty).
  std::string_view scan_token();

  // ---- errors ----
  ReadStatus fail(SourcePos pos, std::string message);
  // The input ended inside something that started at `pos`: either the
  // real end (incomplete input) or an invalid UTF-8 byte.
  ReadStatus fail_end(SourcePos pos, std::string message);

  // ---- forms ----
  ReadStatus push(FrameKind kind, SourcePos pos, const char* opener, Value wrap = Value::nil());
  ReadStatus read_string(SourcePos start, Value* out);
  ReadStatus read_char_literal(SourcePos start, Value* out);
  ReadStatus read_dispatch(SourcePos start, Value* out, bool* pushed);
  ReadStatus read_atom(SourcePos start, Value* out);
  ReadStatus parse_number(std::string_view tok, SourcePos start, Value* out);
  ReadStatus parse_fn_arg(std::string_view tok, SourcePos start, Value* out);
  ReadStatus close(char c, SourcePos pos, Value* out, SourcePos* form_pos);
  ReadStatus build_map(const Frame& f, Value* out);
  ReadStatus build_set(const Frame& f, Value* out);
  Value build_fn(const Frame& f, Value body);
  void record(Value form, SourcePos pos) {
    if (form.is_heap()) {
      heap_.set_position(form.o, pos);
    }
  }

  Heap& heap_;
  std::string_view src_;
  size_t pos_;
  size_t limit_;
  uint32_t file_;
  uint32_t line_ = 1;
  uint32_t column_ = 1;
  std::vector<Frame> frames_;
  std::vector<Item> items_;
  // Index in frames_ of the open #( ), or -1. While one is open, % tokens
  // are argument literals; their count and rest flag are gathered here.
  ptrdiff_t fn_frame_ = -1;
  int fn_max_arg_ = 0;
  bool fn_rest_arg_ = false;
  ReadError error_;
};

ReadStatus Reader::fail(SourcePos pos, std::string message) {
  error_.message = std::move(message);
  error_.pos = pos;
  error_.incomplete = false;
  return ReadStatus::Error;
}

ReadStatus Reader::fail_end(SourcePos pos, std::string message) {
  if (limit_ < src_.size()) {
    return fail(here(), "invalid UTF-8 at " + pos_text(here()));
  }
  error_.message = std::move(message);
  error_.pos = pos;
  error_.incomplete = true;
  return ReadStatus::Incomplete;
}

void Reader::skip_whitespace_and_comments() {
  while (!at_end()) {
    char c = peek();
    if (is_whitespace(c)) {
      advance();
    } else if (c == ';') {
      while (!at_end() && peek() != '\n') {
        advance();
      }
    } else {
      return;
    }
  }
}

std::string_view Reader::scan_token() {
  size_t start = pos_;
  while (!at_end() && !is_terminator(peek())) {
    advance();
  }
  return src_.substr(start, pos_ - start);
}

ReadStatus Reader::push(FrameKind kind, SourcePos pos, const char* opener, Value wrap) {
  if (frames_.size() >= kMaxReadDepth) {
    return fail(pos, "forms are nested too deeply (more than " + std::to_string(kMaxReadDepth) +
                         " levels) at " + pos_text(pos));
  }
  frames_.push_back(Frame{kind, pos, opener, items_.size(), wrap});
  return ReadStatus::Ok;
}

ReadStatus Reader::next(Value* out) {
  frames_.clear();
  items_.clear();
  fn_frame_ = -1;
  for (;;) {
    skip_whitespace_and_comments();
    if (at_end()) {
      if (frames_.empty()) {
        if (limit_ < src_.size()) {
          return fail(here(), "invalid UTF-8 at " + pos_text(here()));
        }
        return ReadStatus::End;
      }
      const Frame& f = frames_.back();
      std::string what;
      switch (f.kind) {
        case FrameKind::List:
          what = "unterminated list";
          break;
        case FrameKind::Vector:
          what = "unterminated vector";
          break;
        case FrameKind::Map:
          what = "unterminated map";
          break;
        case FrameKind::Set:
          what = "unterminated set";
          break;
        case FrameKind::Fn:
          what = "unterminated #()";
          break;
        case FrameKind::Wrap:
        case FrameKind::Discard:
          return fail_end(f.pos, std::string("end of input after ") + f.opener + " at " +
                                     pos_text(f.pos) + ": a form must follow it");
      }
      return fail_end(f.pos, what + " starting at " + pos_text(f.pos));
    }

    SourcePos start = here();
    SourcePos form_pos = start;
    Value v;
    ReadStatus st = ReadStatus::Ok;
    bool pushed = false;
    switch (peek()) {
      case '(':
        advance();
        st = push(FrameKind::List, start, "(");
        pushed = true;
        break;
      case '[':
        advance();
        st = push(FrameKind::Vector, start, "[");
        pushed = true;
        break;
      case '{':
        advance();
        st = push(FrameKind::Map, start, "{");
        pushed = true;
        break;
      case ')':
      case ']':
      case '}': {
        char c = peek();
        advance();
        st = close(c, start, &v, &form_pos);
        break;
      }
      case '"':
        st = read_string(start, &v);
        break;
      case '\\':
        st = read_char_literal(start, &v);
        break;
      case '\'':
        advance();
        st = push(FrameKind::Wrap, start, "'", heap_.symbol("quote"));
        pushed = true;
        break;
      case '`':
        advance();
        st = push(FrameKind::Wrap, start, "`", heap_.symbol("syntax-quote"));
        pushed = true;
        break;
      case '@':
        advance();
        st = push(FrameKind::Wrap, start, "@", heap_.symbol("deref"));
        pushed = true;
        break;
      case '~':
        advance();
        if (peek() == '@') {
          advance();
          st = push(FrameKind::Wrap, start, "~@", heap_.symbol("unquote-splicing"));
        } else {
          st = push(FrameKind::Wrap, start, "~", heap_.symbol("unquote"));
        }
        pushed = true;
        break;
      case '^':
        return fail(start, "metadata (^) is not supported, at " + pos_text(start));
      case '#':
        st = read_dispatch(start, &v, &pushed);
        break;
      default:
        st = read_atom(start, &v);
        break;
    }
    if (st != ReadStatus::Ok) {
      return st;
    }
    if (pushed) {
      continue;
    }

    // Deliver the finished form to whatever is open, innermost first.
    // Reader macros complete as soon as their form does, so one form may
    // complete several of them: ''x is (quote (quote x)).
    for (;;) {
      if (frames_.empty()) {
        *out = v;
        return ReadStatus::Ok;
      }
      Frame& f = frames_.back();
      if (f.kind == FrameKind::Wrap) {
        v = heap_.list({f.wrap_symbol, v});
        record(v, f.pos);
        form_pos = f.pos;
        frames_.pop_back();
        continue;
      }
      if (f.kind == FrameKind::Discard) {
        frames_.pop_back();
        break;
      }
      items_.push_back(Item{v, form_pos});
      break;
    }
  }
}

// ---------------------------------------------------------------------------
// Closing delimiters and collection building

ReadStatus Reader::close(char c, SourcePos pos, Value* out, SourcePos* form_pos) {
  std::string unexpected = std::string("unexpected '") + c + "' at " + pos_text(pos);
  if (frames_.empty()) {
    return fail(pos, unexpected);
  }
  Frame f = frames_.back();
  if (f.kind == FrameKind::Wrap || f.kind == FrameKind::Discard) {
    return fail(pos,
                unexpected + ": a form must follow the " + f.opener + " at " + pos_text(f.pos));
  }
  char expected = f.kind == FrameKind::Vector                              ? ']'
                  : (f.kind == FrameKind::Map || f.kind == FrameKind::Set) ? '}'
                                                                           : ')';
  if (c != expected) {
    return fail(pos, std::string("mismatched '") + c + "' at " + pos_text(pos) + ": expected '" +
                         expected + "' to close the '" + f.opener + "' at " + pos_text(f.pos));
  }
  ReadStatus st = ReadStatus::Ok;
  std::vector<Value> values;
  values.reserve(items_.size() - f.first_item);
  for (size_t i = f.first_item; i < items_.size(); i++) {
    values.push_back(items_[i].value);
  }
  switch (f.kind) {
    case FrameKind::List:
      *out = heap_.list(values.data(), values.size());
      break;
    case FrameKind::Vector:
      *out = vector_from(heap_, values.data(), values.size());
      break;
    case FrameKind::Map:
      st = build_map(f, out);
      break;
    case FrameKind::Set:
      st = build_set(f, out);
      break;
    case FrameKind::Fn:
      *out = heap_.list(values.data(), values.size());
      break;
    default:
      break;
  }
  if (st != ReadStatus::Ok) {
    return st;
  }
  frames_.pop_back();
  items_.resize(f.first_item);
  // Empty collections get no position: they may be shared singletons, and
  // a position recorded on one would show up on every other.
  if (!values.empty()) {
    record(*out, f.pos);
  }
  if (f.kind == FrameKind::Fn) {
    *out = build_fn(f, *out);
    fn_frame_ = -1;
  }
  *form_pos = f.pos;
  return ReadStatus::Ok;
}

// Finds the first item (a key of a map when `stride` is 2) equal to an
// earlier one, or returns items.size().
size_t first_duplicate(const std::vector<Item>& items, size_t first, size_t stride) {
  std::unordered_multimap<uint64_t, size_t> seen;
  for (size_t i = first; i < items.size(); i += stride) {
    uint64_t h = hash(items[i].value);
    auto range = seen.equal_range(h);
    for (auto it = range.first; it != range.second; ++it) {
      if (equal(items[it->second].value, items[i].value)) {
        return i;
      }
    }
    seen.emplace(h, i);
  }
  return items.size();
}

ReadStatus Reader::build_map(const Frame& f, Value* out) {
  size_t n = items_.size() - f.first_item;
  if (n % 2 != 0) {
    return fail(f.pos, "map literal needs an even number of forms: the map starting at " +
                           pos_text(f.pos) + " has " + std::to_string(n));
  }
  std::vector<Value> kvs;
  kvs.reserve(n);
  for (size_t i = f.first_item; i < items_.size(); i++) {
    kvs.push_back(items_[i].value);
  }
  *out = map_from(heap_, kvs.data(), n / 2);
  if (map_count(*out) != n / 2) {
    size_t d = first_duplicate(items_, f.first_item, 2);
    if (d < items_.size()) {
      return fail(items_[d].pos, "duplicate key " + describe(items_[d].value) + " at " +
                                     pos_text(items_[d].pos) + " in the map starting at " +
                                     pos_text(f.pos));
    }
    return fail(f.pos, "duplicate key in the map starting at " + pos_text(f.pos));
  }
  return ReadStatus::Ok;
}

ReadStatus Reader::build_set(const Frame& f, Value* out) {
  size_t n = items_.size() - f.first_item;
  std::vector<Value> values;
  values.reserve(n);
  for (size_t i = f.first_item; i < items_.size(); i++) {
    values.push_back(items_[i].value);
  }
  *out = set_from(heap_, values.data(), n);
  if (set_count(*out) != n) {
    size_t d = first_duplicate(items_, f.first_item, 1);
    if (d < items_.size()) {
      return fail(items_[d].pos, "duplicate element " + describe(items_[d].value) + " at " +
                                     pos_text(items_[d].pos) + " in the set starting at " +
                                     pos_text(f.pos));
    }
    return fail(f.pos, "duplicate element in the set starting at " + pos_text(f.pos));
  }
  return ReadStatus::Ok;
}

// #(body...) becomes (fn [%1 ... %n & %&] (body...)), where n is the
// highest %n the body used (% counts as %1).
Value Reader::build_fn(const Frame& f, Value body) {
  std::vector<Value> params;
  for (int i = 1; i <= fn_max_arg_; i++) {
    params.push_back(heap_.symbol("%" + std::to_string(i)));
  }
  if (fn_rest_arg_) {
    params.push_back(heap_.symbol("&"));
    params.push_back(heap_.symbol("%&"));
  }
  Value param_vector = vector_from(heap_, params.data(), params.size());
  if (!params.empty()) {
    record(param_vector, f.pos);
  }
  Value form = heap_.list({heap_.symbol("fn"), param_vector, body});
  record(form, f.pos);
  return form;
}

// ---------------------------------------------------------------------------
// Strings and character literals

ReadStatus Reader::read_string(SourcePos start, Value* out) {
  std::string unterminated = "unterminated string starting at " + pos_text(start);
  // Reads the four hex digits of a \u escape that started at `esc`.
  auto hex4 = [&](SourcePos esc, uint32_t* cp) {
    *cp = 0;
    for (int i = 0; i < 4; i++) {
      if (at_end()) {
        return fail_end(start, unterminated);
      }
      int h = hex_value(peek());
      if (h < 0) {
        return fail(esc, "invalid \\u escape at " + pos_text(esc) + ": it needs four hex digits");
      }
      *cp = *cp * 16 + static_cast<uint32_t>(h);
      advance();
    }
    return ReadStatus::Ok;
  };

  advance();  // the opening quote
  std::string text;
  for (;;) {
    if (at_end()) {
      return fail_end(start, unterminated);
    }
    char c = peek();
    if (c == '"') {
      advance();
      break;
    }
    if (c != '\\') {
      size_t b = pos_;
      advance_code_point();
      text.append(src_.substr(b, pos_ - b));
      continue;
    }
    SourcePos esc = here();
    advance();
    if (at_end()) {
      return fail_end(start, unterminated);
    }
    char e = peek();
    const char* simple = nullptr;
    switch (e) {
      case 'n':
        simple = "\n";
        break;
      case 't':
        simple = "\t";
        break;
      case 'r':
        simple = "\r";
        break;
      case 'b':
        simple = "\b";
        break;
      case 'f':
        simple = "\f";
        break;
      case '"':
        simple = "\"";
        break;
      case '\\':
        simple = "\\";
        break;
      case '0':
        text.push_back('\0');
        advance();
        continue;
      case 'u': {
        advance();
        uint32_t cp;
        if (ReadStatus st = hex4(esc, &cp); st != ReadStatus::Ok) {
          return st;
        }
        // A UTF-16 surrogate pair written as two escapes, as JSON does,
        // denotes one code point; a lone surrogate is not text.
        if (cp >= 0xD800 && cp <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
          SourcePos esc2 = here();
          advance();
          advance();
          uint32_t low;
          if (ReadStatus st = hex4(esc2, &low); st != ReadStatus::Ok) {
            return st;
          }
          if (low < 0xDC00 || low > 0xDFFF) {
            return fail(esc, "invalid \\u escape at " + pos_text(esc) +
                                 ": a high surrogate must be followed by a low one");
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
          return fail(esc, "invalid \\u escape at " + pos_text(esc) + ": lone surrogate");
        }
        utf8_append(text, cp);
        continue;
      }
      default: {
        size_t b = pos_;
        advance_code_point();
        return fail(esc, "unknown escape \\" + std::string(src_.substr(b, pos_ - b)) +
                             " in string at " + pos_text(esc));
      }
    }
    text.append(simple);
    advance();
  }
  *out = heap_.string(text);
  return ReadStatus::Ok;
}

ReadStatus Reader::read_char_literal(SourcePos start, Value* out) {
  advance();  // the backslash
  if (at_end()) {
    return fail_end(start, "end of input after \\ at " + pos_text(start));
  }
  char c = peek();
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || is_control(c)) {
    return fail(start, "a character must follow the \\ at " + pos_text(start));
  }
  // The first character is taken whatever it is (\( is "("); a name such
  // as \newline continues up to the next delimiter.
  size_t b = pos_;
  advance_code_point();
  while (!at_end() && !is_terminator(peek())) {
    advance();
  }
  std::string_view tok = src_.substr(b, pos_ - b);
  if (utf8_count(tok) == 1) {
    *out = heap_.string(tok);
    return ReadStatus::Ok;
  }
  static constexpr std::pair<std::string_view, std::string_view> kNames[] = {
      {"newline", "\n"}, {"space", " "},      {"tab", "\t"},
      {"return", "\r"},  {"backspace", "\b"}, {"formfeed", "\f"},
  };
  for (const auto& [name, text] : kNames) {
    if (tok == name) {
      *out = heap_.string(text);
      return ReadStatus::Ok;
    }
  }
  if (tok.size() == 5 && tok[0] == 'u') {
    uint32_t cp = 0;
    bool ok = true;
    for (size_t i = 1; i < 5; i++) {
      int h = hex_value(tok[i]);
      ok = ok && h >= 0;
      cp = cp * 16 + static_cast<uint32_t>(h < 0 ? 0 : h);
    }
    if (ok && (cp < 0xD800 || cp > 0xDFFF)) {
      std::string text;
      utf8_append(text, cp);
      *out = heap_.string(text);
      return ReadStatus::Ok;
    }
  }
  return fail(start, "unknown character literal \\" + std::string(tok) + " at " + pos_text(start));
}

// ---------------------------------------------------------------------------
// Dispatch macros (#...)

ReadStatus Reader::read_dispatch(SourcePos start, Value* out, bool* pushed) {
  advance();  // the #
  if (at_end()) {
    return fail_end(start, "end of input after # at " + pos_text(start));
  }
  switch (peek()) {
    case '{':
      advance();
      *pushed = true;
      return push(FrameKind::Set, start, "#{");
    case '(': {
      if (fn_frame_ >= 0) {
        return fail(start, "nested #() are not allowed: the #( at " + pos_text(start) +
                               " is inside the one at " + pos_text(frames_[fn_frame_].pos));
      }
      advance();
      *pushed = true;
      ReadStatus st = push(FrameKind::Fn, start, "#(");
      fn_frame_ = static_cast<ptrdiff_t>(frames_.size()) - 1;
      fn_max_arg_ = 0;
      fn_rest_arg_ = false;
      return st;
    }
    case '_':
      advance();
      *pushed = true;
      return push(FrameKind::Discard, start, "#_");
    case '#': {
      advance();
      std::string_view tok = scan_token();
      if (tok == "Inf") {
        *out = Value::number(std::numeric_limits<double>::infinity());
      } else if (tok == "-Inf") {
        *out = Value::number(-std::numeric_limits<double>::infinity());
      } else if (tok == "NaN") {
        *out = Value::number(std::numeric_limits<double>::quiet_NaN());
      } else if (tok.empty() && at_end()) {
        return fail_end(start, "end of input after ## at " + pos_text(start));
      } else {
        return fail(start, "unknown symbolic value ##" + std::string(tok) + " at " +
                               pos_text(start) + " (expected ##Inf, ##-Inf or ##NaN)");
      }
      return ReadStatus::Ok;
    }
    case '"':
      return fail(start, "regex literals (#\"...\") are not supported, at " + pos_text(start));
    case '\'':
      return fail(start, "var quotes (#') are not supported, at " + pos_text(start));
    default: {
      if (is_whitespace(peek()) || is_control(peek())) {
        return fail(start, "a # must not be followed by whitespace, at " + pos_text(start));
      }
      size_t b = pos_;
      advance_code_point();
      return fail(start, "unknown reader macro #" + std::string(src_.substr(b, pos_ - b)) + " at " +
                             pos_text(start));
    }
  }
}

// ---------------------------------------------------------------------------
// Symbols, keywords and numbers

ReadStatus Reader::read_atom(SourcePos start, Value* out) {
  if (is_control(peek())) {
    char buf[8];
    snprintf(buf, sizeof buf, "%04X", static_cast<unsigned>(static_cast<unsigned char>(peek())));
    return fail(start,
                std::string("unexpected control character U+") + buf + " at " + pos_text(start));
  }
  std::string_view tok = scan_token();
  char c = tok[0];
  if (is_digit(c) || ((c == '+' || c == '-') && tok.size() > 1 && is_digit(tok[1]))) {
    return parse_number(tok, start, out);
  }
  if (tok == "nil") {
    *out = Value::nil();
    return ReadStatus::Ok;
  }
  if (tok == "true" || tok == "false") {
    *out = Value::boolean(tok == "true");
    return ReadStatus::Ok;
  }
  // A name may hold a namespace-like prefix (json/parse), but neither part
  // may be empty; "/" alone is the division function.
  auto bad_slash = [](std::string_view name) {
    return name.size() > 1 && (name.front() == '/' || name.back() == '/');
  };
  if (c == ':') {
    std::string_view name = tok.substr(1);
    if (name.empty()) {
      return fail(start, "a keyword needs a name after the ':' at " + pos_text(start));
    }
    if (name[0] == ':') {
      return fail(start, "auto-resolved keywords (" + std::string(tok) +
                             ") are not supported, at " + pos_text(start));
    }
    if (bad_slash(name)) {
      return fail(start, "invalid keyword " + std::string(tok) + " at " + pos_text(start));
    }
    *out = heap_.keyword(name);
    return ReadStatus::Ok;
  }
  if (c == '%' && fn_frame_ >= 0) {
    return parse_fn_arg(tok, start, out);
  }
  if (bad_slash(tok)) {
    return fail(start, "invalid symbol " + std::string(tok) + " at " + pos_text(start));
  }
  *out = heap_.symbol(tok);
  return ReadStatus::Ok;
}

ReadStatus Reader::parse_fn_arg(std::string_view tok, SourcePos start, Value* out) {
  if (tok == "%&") {
    fn_rest_arg_ = true;
    *out = heap_.symbol("%&");
    return ReadStatus::Ok;
  }
  int n = 0;
  if (tok == "%") {
    n = 1;
  } else if (tok.size() <= 3 && tok[1] != '0') {
    for (size_t i = 1; i < tok.size(); i++) {
      n = is_digit(tok[i]) && n >= 0 ? n * 10 + (tok[i] - '0') : -1;
    }
  }
  if (n < 1 || n > kMaxFnArgs) {
    return fail(start, "invalid argument " + std::string(tok) + " in #() at " + pos_text(start) +
                           ": use %, %1 to %" + std::to_string(kMaxFnArgs) + " or %&");
  }
  if (n > fn_max_arg_) {
    fn_max_arg_ = n;
  }
  *out = heap_.symbol("%" + std::to_string(n));
  return ReadStatus::Ok;
}

// Integers: [+-]digits or [+-]0x hexdigits, within int64 (never wrapped).
// Doubles: [+-]digits[.digits][(e|E)[+-]digits] with a '.' or an exponent.
ReadStatus Reader::parse_number(std::string_view tok, SourcePos start, Value* out) {
  std::string invalid = "invalid number " + std::string(tok) + " at " + pos_text(start);
  std::string range = "number " + std::string(tok) + " is out of range at " + pos_text(start);
  bool negative = tok[0] == '-';
  std::string_view body = (tok[0] == '-' || tok[0] == '+') ? tok.substr(1) : tok;

  int base = 10;
  std::string_view digits = body;
  if (body.size() >= 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
    base = 16;
    digits = body.substr(2);
  }
  bool all_digits = !digits.empty();
  for (char d : digits) {
    all_digits = all_digits && (base == 16 ? hex_value(d) >= 0 : is_digit(d));
  }
  if (all_digits) {
    if (base == 10 && digits.size() > 1 && digits[0] == '0') {
      return fail(start, "leading zeros are not allowed in " + std::string(tok) + " at " +
                             pos_text(start) + " (octal is not supported)");
    }
    // Accumulate the magnitude in 64 unsigned bits; -2^63 is the only
    // value whose magnitude does not fit in int64.
    uint64_t mag = 0;
    for (char d : digits) {
      uint64_t v = static_cast<uint64_t>(hex_value(d));
      if (mag > (std::numeric_limits<uint64_t>::max() - v) / static_cast<uint64_t>(base)) {
        return fail(start, range);
      }
      mag = mag * static_cast<uint64_t>(base) + v;
    }
    constexpr uint64_t kMaxPositive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (mag > kMaxPositive + (negative ? 1 : 0)) {
      return fail(start, range);
    }
    int64_t v = negative ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
    *out = Value::integer(v);
    return ReadStatus::Ok;
  }
  if (base == 16) {
    return fail(start, invalid);
  }

  size_t i = 0;
  auto skip_digits = [&] {
    size_t from = i;
    while (i < body.size() && is_digit(body[i])) {
      i++;
    }
    return i - from;
  };
  skip_digits();
  bool is_double = false;
  if (i < body.size() && body[i] == '.') {
    i++;
    skip_digits();
    is_double = true;
  }
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    i++;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) {
      i++;
    }
    if (skip_digits() == 0) {
      return fail(start, invalid);
    }
    is_double = true;
  }
  if (!is_double || i != body.size()) {
    return fail(start, invalid);
  }
  double d = 0;
  auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), d);
  if (ec == std::errc::result_out_of_range) {
    return fail(start, range);
  }
  if (ec != std::errc() || ptr != body.data() + body.size()) {
    return fail(start, invalid);
  }
  *out = Value::number(negative ? -d : d);
  return ReadStatus::Ok;
}

}  // namespace

// ---------------------------------------------------------------------------
// Entry points

std::string ReadError::to_string(const Heap& heap) const {
  return heap.file_name(pos.file) + ":" + pos_text(pos) + ": " + message;
}

namespace {
bool too_large(std::string_view source) {
  return source.size() >= std::numeric_limits<uint32_t>::max();
}
}  // namespace

ReadResult read_all(Heap& heap, std::string_view source, std::string_view file_name) {
  ReadResult result;
  if (too_large(source)) {
    result.error.message = "source is too large (4 GiB or more)";
    result.error.pos = SourcePos{heap.file_id(file_name), 1, 1};
    return result;
  }
  Reader reader(heap, source, file_name, 0);
  for (;;) {
    Value form;
    switch (reader.next(&form)) {
      case ReadStatus::Ok:
        result.forms.push_back(form);
        break;
      case ReadStatus::End:
        result.ok = true;
        return result;
      case ReadStatus::Incomplete:
      case ReadStatus::Error:
        result.forms.clear();
        result.error = reader.error();
        return result;
    }
  }
}

ReadOneResult read_one(Heap& heap, std::string_view source, std::string_view file_name,
                       size_t offset) {
  ReadOneResult result;
  if (too_large(source)) {
    result.status = ReadStatus::Error;
    result.error.message = "source is too large (4 GiB or more)";
    result.error.pos = SourcePos{heap.file_id(file_name), 1, 1};
    return result;
  }
  if (offset > source.size()) {
    offset = source.size();
  }
  Reader reader(heap, source, file_name, offset);
  result.status = reader.next(&result.form);
  result.end = reader.offset();
  if (result.status == ReadStatus::Incomplete || result.status == ReadStatus::Error) {
    result.error = reader.error();
    result.end = offset;
  }
  return result;
}

}  // namespace valk::lisp
