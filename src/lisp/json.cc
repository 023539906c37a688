// The JSON parser and writer.
//
// The parser is a single pass over the text with an explicit stack of open
// arrays and objects. Finished elements (and key/value pairs) wait on one
// shared value stack; a closing bracket turns its slice of the stack into a
// vector or map in one call, so no intermediate collection is built. It
// tracks only a byte offset: lines and columns are computed from the offset
// when an error is reported, which keeps the hot loops free of
// bookkeeping. Strings without escapes go straight from the text to the
// heap; only strings with escapes go through a scratch buffer.
//
// The writer mirrors it: an explicit stack of frames, whose pending
// elements wait on one shared value stack, appending to the caller's
// string.
#include "lisp/json.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "lisp/collections.h"
#include "lisp/object.h"
#include "lisp/printer.h"
#include "lisp/utf8.h"
#include "util/hex.h"

namespace valk::lisp {

std::string JsonError::to_string() const {
  return message + " at " + std::to_string(line) + ":" + std::to_string(column);
}

namespace {

// ---- character classes ----------------------------------------------------------

// Bytes a string may contain as they are: printable ASCII except '"' and
// '\\'. Everything else (escapes, control characters, non-ASCII) takes the
// slow path.
// The writer's table for escape_slash also stops at '/'.
struct PlainTable {
  bool plain[256];
  constexpr explicit PlainTable(bool slash) : plain() {
    for (int c = 0x20; c < 0x80; c++) {
      plain[c] = c != '"' && c != '\\' && !(slash && c == '/');
    }
  }
};
constexpr PlainTable kPlain(false);
constexpr PlainTable kPlainNoSlash(true);

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
}

void append_u_escape(std::string& out, unsigned cp) {
  static const char kHex[] = "0123456789abcdef";
  char buf[6] = {
      '\\',          'u', kHex[(cp >> 12) & 0xF], kHex[(cp >> 8) & 0xF], kHex[(cp >> 4) & 0xF],
      kHex[cp & 0xF]};
  out.append(buf, 6);
}

// ---- parser ---------------------------------------------------------------------

class Parser {
 public:
  Parser(Heap& heap, std::string_view text, const JsonParseOptions& options, JsonError* err)
      : heap_(heap),
        begin_(text.data()),
        p_(text.data()),
        end_(text.data() + text.size()),
        options_(options),
        err_(err) {}

  bool parse(Value* out);

 private:
  struct Open {
    size_t start;  // index in values_ of its first element or key
    bool object;
  };

  bool fail(const char* at, std::string message);
  bool fail_unexpected(const char* expected);
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
      p_++;
    }
  }
  bool open(bool object);
  bool parse_key();
  bool parse_string(std::string_view* out);
  bool parse_escape();
  bool parse_number(Value* out);
  bool parse_literal(Value* out);

  Heap& heap_;
  const char* begin_;
  const char* p_;
  const char* end_;
  const JsonParseOptions& options_;
  JsonError* err_;
  std::vector<Value> values_;
  std::vector<Open> open_;
  std::string scratch_;  // decoded text of a string with escapes
};

bool Parser::fail(const char* at, std::string message) {
  if (err_ == nullptr) {
    return false;
  }
  err_->message = std::move(message);
  err_->offset = static_cast<size_t>(at - begin_);
  uint32_t line = 1;
  const char* line_start = begin_;
  for (const char* q = begin_; q < at; q++) {
    if (*q == '\n') {
      line++;
      line_start = q + 1;
    }
  }
  err_->line = line;
  err_->column =
      static_cast<uint32_t>(utf8_count(std::string_view(line_start, at - line_start)) + 1);
  return false;
}

// "unexpected X, expected <expected>" for the character at p_, or "unexpected
// end of input, expected <expected>" at the end.
bool Parser::fail_unexpected(const char* expected) {
  std::string what;
  if (p_ == end_) {
    what = "end of input";
  } else {
    unsigned char c = static_cast<unsigned char>(*p_);
    if (c >= 0x20 && c < 0x7F) {
      what = std::string("'") + static_cast<char>(c) + "'";
    } else if (c < 0x80) {
      char buf[16];
      snprintf(buf, sizeof(buf), "U+%04X", c);
      what = std::string("control character ") + buf;
    } else if (size_t n = utf8_sequence(p_, end_); n > 0) {
      what = "'" + std::string(p_, n) + "'";
    } else {
      return fail(p_, "invalid UTF-8");
    }
  }
  return fail(p_, "unexpected " + what + ", expected " + expected);
}

bool Parser::open(bool object) {
  if (open_.size() >= options_.max_depth) {
    return fail(p_, "arrays and objects nested deeper than " + std::to_string(options_.max_depth) +
                        " levels");
  }
  open_.push_back(Open{values_.size(), object});
  p_++;
  return true;
}

// Parses `"key"` `:` with the whitespace around the colon; p_ is at the
// opening quote. Pushes the key.
bool Parser::parse_key() {
  std::string_view key;
  if (!parse_string(&key)) {
    return false;
  }
  values_.push_back(options_.keywordize ? heap_.keyword(key) : heap_.string(key));
  skip_ws();
  if (p_ == end_ || *p_ != ':') {
    return fail_unexpected("':' after object key");
  }
  p_++;
  skip_ws();
  return true;
}

// p_ is at the opening quote. On success *out views either the text itself
// or scratch_ (valid until the next string).
bool Parser::parse_string(std::string_view* out) {
  const char* quote = p_;
  const char* start = ++p_;
  bool copying = false;
  for (;;) {
    const char* run = p_;
    while (p_ < end_ && kPlain.plain[static_cast<unsigned char>(*p_)]) {
      p_++;
    }
    if (copying) {
      scratch_.append(run, p_ - run);
    }
    if (p_ == end_) {
      return fail(quote, "unterminated string");
    }
    unsigned char c = static_cast<unsigned char>(*p_);
    if (c == '"') {
      *out = copying ? std::string_view(scratch_) : std::string_view(start, p_ - start);
      p_++;
      return true;
    }
    if (c == '\\') {
      if (!copying) {
        scratch_.assign(start, p_ - start);
        copying = true;
      }
      if (!parse_escape()) {
        return false;
      }
    } else if (c < 0x20) {
      char buf[64];
      snprintf(buf, sizeof(buf), "control character U+%04X must be escaped in a string", c);
      return fail(p_, buf);
    } else {
      size_t n = utf8_sequence(p_, end_);
      if (n == 0) {
        return fail(p_, "invalid UTF-8 in string");
      }
      if (copying) {
        scratch_.append(p_, n);
      }
      p_ += n;
    }
  }
}

// p_ is at a backslash inside a string; appends the decoded character to
// scratch_.
bool Parser::parse_escape() {
  const char* backslash = p_++;
  if (p_ == end_) {
    return fail(p_, "unexpected end of input in escape sequence");
  }
  char c = *p_++;
  switch (c) {
    case '"':
    case '\\':
    case '/':
      scratch_ += c;
      return true;
    case 'b':
      scratch_ += '\b';
      return true;
    case 'f':
      scratch_ += '\f';
      return true;
    case 'n':
      scratch_ += '\n';
      return true;
    case 'r':
      scratch_ += '\r';
      return true;
    case 't':
      scratch_ += '\t';
      return true;
    case 'u':
      break;
    default:
      p_--;
      return fail(backslash,
                  std::string("invalid escape '\\") +
                      (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7F
                           ? std::string(1, c)
                           : std::string("?")) +
                      "' in string");
  }
  auto hex4 = [&](const char* at, unsigned* cp) {
    if (end_ - at < 4) {
      return false;
    }
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
      int h = hex_value(at[i]);
      if (h < 0) {
        return false;
      }
      v = v << 4 | static_cast<unsigned>(h);
    }
    *cp = v;
    return true;
  };
  unsigned cp;
  if (!hex4(p_, &cp)) {
    return fail(backslash, "expected four hex digits after '\\u'");
  }
  p_ += 4;
  if (cp >= 0xDC00 && cp <= 0xDFFF) {
    return fail(backslash, "lone low surrogate in '\\u' escape");
  }
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    unsigned lo;
    if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u' || !hex4(p_ + 2, &lo) || lo < 0xDC00 ||
        lo > 0xDFFF) {
      return fail(backslash, "high surrogate in '\\u' escape not followed by a low surrogate");
    }
    p_ += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  utf8_append(scratch_, cp);
  return true;
}

bool Parser::parse_number(Value* out) {
  const char* start = p_;
  bool negative = *p_ == '-';
  if (negative) {
    p_++;
  }
  if (p_ == end_ || !is_digit(*p_)) {
    return fail_unexpected("a digit after '-'");
  }
  // The integer part, accumulated while it fits; `magnitude` is the decimal
  // exponent of the first significant digit plus one, which tells overflow
  // from underflow when strtod-style conversion is out of range.
  uint64_t mantissa = 0;
  bool fits = true;
  int64_t magnitude = 0;
  if (*p_ == '0') {
    p_++;
    if (p_ < end_ && is_digit(*p_)) {
      return fail(p_ - 1, "leading zeros are not allowed in numbers");
    }
  } else {
    while (p_ < end_ && is_digit(*p_)) {
      unsigned d = static_cast<unsigned>(*p_ - '0');
      if (mantissa > (std::numeric_limits<uint64_t>::max() - d) / 10) {
        fits = false;
      } else {
        mantissa = mantissa * 10 + d;
      }
      magnitude++;
      p_++;
    }
  }
  bool is_double = false;
  if (p_ < end_ && *p_ == '.') {
    is_double = true;
    p_++;
    if (p_ == end_ || !is_digit(*p_)) {
      return fail_unexpected("a digit after '.'");
    }
    bool leading = magnitude == 0;
    while (p_ < end_ && is_digit(*p_)) {
      if (leading && *p_ == '0') {
        magnitude--;
      } else {
        leading = false;
      }
      p_++;
    }
  }
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    is_double = true;
    p_++;
    bool exp_negative = false;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) {
      exp_negative = *p_ == '-';
      p_++;
    }
    if (p_ == end_ || !is_digit(*p_)) {
      return fail_unexpected("a digit in the exponent");
    }
    int64_t exp = 0;
    while (p_ < end_ && is_digit(*p_)) {
      exp = std::min<int64_t>(exp * 10 + (*p_ - '0'), 1000000000);
      p_++;
    }
    magnitude += exp_negative ? -exp : exp;
  }
  if (!is_double && fits) {
    constexpr uint64_t kMaxPositive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (!negative && mantissa <= kMaxPositive) {
      *out = Value::integer(static_cast<int64_t>(mantissa));
      return true;
    }
    if (negative && mantissa <= kMaxPositive + 1) {
      // Negating in unsigned arithmetic is exact for -2^63 too.
      *out = Value::integer(static_cast<int64_t>(0 - mantissa));
      return true;
    }
  }
  double d = 0;
  auto res = std::from_chars(start, p_, d);
  if (res.ec == std::errc::result_out_of_range) {
    if (magnitude > 0) {
      return fail(start, "number too large for a double");
    }
    d = negative ? -0.0 : 0.0;  // underflow rounds to zero
  } else if (res.ec != std::errc() || res.ptr != p_) {
    return fail(start, "malformed number");  // unreachable: the grammar was checked
  }
  *out = Value::number(d);
  return true;
}

bool Parser::parse_literal(Value* out) {
  const char* start = p_;
  while (p_ < end_ && is_word_char(*p_)) {
    p_++;
  }
  std::string_view word(start, p_ - start);
  if (word == "true") {
    *out = Value::boolean(true);
  } else if (word == "false") {
    *out = Value::boolean(false);
  } else if (word == "null") {
    *out = Value::nil();
  } else {
    if (word.size() > 32) {
      word = word.substr(0, 32);
    }
    return fail(start, "invalid literal '" + std::string(word) + "', expected true, false or null");
  }
  return true;
}

bool Parser::parse(Value* out) {
  if (end_ - begin_ >= 3 && memcmp(begin_, "\xEF\xBB\xBF", 3) == 0) {
    return fail(begin_, "unexpected byte order mark (U+FEFF)");
  }
  skip_ws();
  for (;;) {
    // Expecting a value at p_ (whitespace skipped).
    Value v;
    if (p_ == end_) {
      return fail_unexpected("a JSON value");
    }
    switch (*p_) {
      case '{':
        if (!open(true)) {
          return false;
        }
        skip_ws();
        if (p_ < end_ && *p_ == '}') {
          p_++;
          open_.pop_back();
          v = map_from(heap_, nullptr, 0);
          break;
        }
        if (p_ == end_ || *p_ != '"') {
          return fail_unexpected("a string key or '}'");
        }
        if (!parse_key()) {
          return false;
        }
        continue;
      case '[':
        if (!open(false)) {
          return false;
        }
        skip_ws();
        if (p_ < end_ && *p_ == ']') {
          p_++;
          open_.pop_back();
          v = vector_from(heap_, nullptr, 0);
          break;
        }
        continue;
      case '"': {
        std::string_view s;
        if (!parse_string(&s)) {
          return false;
        }
        v = heap_.string(s);
        break;
      }
      case '-':
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
      case '8':
      case '9':
        if (!parse_number(&v)) {
          return false;
        }
        break;
      default:
        if (is_word_char(*p_)) {
          if (!parse_literal(&v)) {
            return false;
          }
          break;
        }
        return fail_unexpected("a JSON value");
    }

    // Have a complete value v: close every container it completes.
    for (;;) {
      skip_ws();
      if (open_.empty()) {
        if (p_ != end_) {
          return fail_unexpected("end of input after the JSON value");
        }
        *out = v;
        return true;
      }
      values_.push_back(v);
      const Open& top = open_.back();
      char close = top.object ? '}' : ']';
      if (p_ < end_ && *p_ == close) {
        p_++;
        size_t n = values_.size() - top.start;
        v = top.object ? map_from(heap_, values_.data() + top.start, n / 2)
                       : vector_from(heap_, values_.data() + top.start, n);
        values_.resize(top.start);
        open_.pop_back();
        continue;
      }
      if (p_ == end_ || *p_ != ',') {
        return fail_unexpected(top.object ? "',' or '}' after object member"
                                          : "',' or ']' after array element");
      }
      const char* comma = p_++;
      skip_ws();
      if (p_ < end_ && *p_ == close) {
        return fail(comma, std::string("trailing comma before '") + close + "'");
      }
      if (top.object) {
        if (p_ == end_ || *p_ != '"') {
          return fail_unexpected("a string key after ','");
        }
        if (!parse_key()) {
          return false;
        }
      }
      break;
    }
  }
}

// ---- writer ---------------------------------------------------------------------

class Writer {
 public:
  Writer(const JsonWriteOptions& options, std::string& out, std::string* err)
      : options_(options), out_(out), err_(err) {}

  bool write(Value v);

 private:
  struct Frame {
    size_t begin;  // its items in items_[begin, end)
    size_t end;
    size_t pos;  // next item to write
    bool object;
  };

  bool write_value(Value v);
  bool write_string(std::string_view s);
  void newline(size_t depth) {
    out_ += '\n';
    out_.append(2 * depth, ' ');
  }
  bool fail(std::string message);

  const JsonWriteOptions& options_;
  std::string& out_;
  std::string* err_;
  std::vector<Value> items_;  // elements, or keys and values, of open frames
  std::vector<Frame> frames_;
};

// Adds the path of the value being written, "(at [:users 3])", so an
// unwritable value deep in a response can be found.
bool Writer::fail(std::string message) {
  if (err_ == nullptr) {
    return false;
  }
  if (!frames_.empty()) {
    message += " (at [";
    for (size_t i = 0; i < frames_.size(); i++) {
      const Frame& f = frames_[i];
      if (i > 0) {
        message += ' ';
      }
      if (f.object) {
        print_to(message, items_[f.pos - 2], true);
      } else {
        message += std::to_string(f.pos - f.begin - 1);
      }
    }
    message += "])";
  }
  *err_ = std::move(message);
  return false;
}

bool Writer::write_string(std::string_view s) {
  out_ += '"';
  const char* p = s.data();
  const char* end = p + s.size();
  const bool* plain = options_.escape_slash ? kPlainNoSlash.plain : kPlain.plain;
  while (p < end) {
    const char* run = p;
    while (p < end && plain[static_cast<unsigned char>(*p)]) {
      p++;
    }
    out_.append(run, p - run);
    if (p == end) {
      break;
    }
    unsigned char c = static_cast<unsigned char>(*p);
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '/':
        out_ += "\\/";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\r':
        out_ += "\\r";
        break;
      case '\t':
        out_ += "\\t";
        break;
      case '\b':
        out_ += "\\b";
        break;
      case '\f':
        out_ += "\\f";
        break;
      default:
        if (c < 0x20) {
          append_u_escape(out_, c);
          break;
        }
        size_t n = utf8_sequence(p, end);
        if (n == 0) {
          return fail("cannot write a string that is not valid UTF-8 as JSON");
        }
        // U+2028 and U+2029 end lines in JavaScript source.
        if (options_.escape_slash && n == 3 && c == 0xE2 &&
            static_cast<unsigned char>(p[1]) == 0x80 &&
            (static_cast<unsigned char>(p[2]) & 0xFE) == 0xA8) {
          append_u_escape(out_, 0x2028 + (p[2] & 1));
        } else {
          out_.append(p, n);
        }
        p += n;
        continue;
    }
    p++;
  }
  out_ += '"';
  return true;
}

// Writes a scalar or an empty collection, or opens a frame for a non-empty
// collection (its items are written by the loop in write()).
bool Writer::write_value(Value v) {
  char buf[32];
  switch (v.tag) {
    case Tag::Nil:
      out_ += "null";
      return true;
    case Tag::Bool:
      out_ += v.b ? "true" : "false";
      return true;
    case Tag::Int: {
      auto res = std::to_chars(buf, buf + sizeof(buf), v.i);
      out_.append(buf, res.ptr - buf);
      return true;
    }
    case Tag::Double: {
      if (!std::isfinite(v.d)) {
        return fail(std::string("cannot write ") + (std::isnan(v.d) ? "NaN" : "an infinity") +
                    " as JSON");
      }
      auto res = std::to_chars(buf, buf + sizeof(buf), v.d);
      std::string_view s(buf, res.ptr - buf);
      out_ += s;
      // Keep it a double when read back: 1.0 must not become the int 1.
      if (s.find_first_of(".e") == std::string_view::npos) {
        out_ += ".0";
      }
      return true;
    }
    case Tag::String:
      return write_string(static_cast<String*>(v.o)->view());
    case Tag::Keyword:
    case Tag::Symbol:
      return write_string(static_cast<Symbol*>(v.o)->name->view());
    case Tag::List:
    case Tag::Vector:
    case Tag::Set:
    case Tag::Map: {
      size_t begin = items_.size();
      bool object = v.is(Tag::Map);
      if (v.is(Tag::List)) {
        for (Value l = v; l.o != nullptr; l = static_cast<Cons*>(l.o)->rest) {
          items_.push_back(static_cast<Cons*>(l.o)->first);
        }
      } else if (v.is(Tag::Vector)) {
        size_t n = vector_count(v);
        items_.reserve(begin + n);
        for (size_t i = 0; i < n;) {
          size_t len;
          const Value* chunk = vector_chunk(v, i, &len);
          items_.insert(items_.end(), chunk, chunk + len);
          i += len;
        }
      } else if (v.is(Tag::Set)) {
        set_each(v, [&](Value x) {
          items_.push_back(x);
          return true;
        });
      } else {
        map_each(v, [&](Value k, Value x) {
          items_.push_back(k);
          items_.push_back(x);
          return true;
        });
      }
      if (items_.size() == begin) {
        out_ += object ? "{}" : "[]";
        return true;
      }
      out_ += object ? '{' : '[';
      frames_.push_back(Frame{begin, items_.size(), begin, object});
      return true;
    }
    default:
      return fail("cannot write a value of type " + std::string(type_name(v)) + " as JSON");
  }
}

bool Writer::write(Value v) {
  if (!write_value(v)) {
    return false;
  }
  while (!frames_.empty()) {
    if (out_.size() > options_.max_bytes) {
      return fail("the text is longer than " + std::to_string(options_.max_bytes) + " bytes");
    }
    Frame& f = frames_.back();
    if (f.pos == f.end) {
      bool object = f.object;
      items_.resize(f.begin);
      frames_.pop_back();
      if (options_.pretty) {
        newline(frames_.size());
      }
      out_ += object ? '}' : ']';
      continue;
    }
    if (f.pos > f.begin) {
      out_ += ',';
    }
    if (options_.pretty) {
      newline(frames_.size());
    }
    Value item;
    if (f.object) {
      Value key = items_[f.pos];
      item = items_[f.pos + 1];
      f.pos += 2;
      bool ok;
      if (key.is(Tag::String)) {
        ok = write_string(static_cast<String*>(key.o)->view());
      } else if (key.is(Tag::Keyword) || key.is(Tag::Symbol)) {
        ok = write_string(static_cast<Symbol*>(key.o)->name->view());
      } else {
        ok = write_string(print_str(key, true));
      }
      if (!ok) {
        return false;
      }
      out_ += options_.pretty ? ": " : ":";
    } else {
      item = items_[f.pos++];
    }
    // May push a frame, which invalidates f.
    if (!write_value(item)) {
      return false;
    }
  }
  return out_.size() <= options_.max_bytes ||
         fail("the text is longer than " + std::to_string(options_.max_bytes) + " bytes");
}

}  // namespace

bool json_parse(Heap& heap, std::string_view text, const JsonParseOptions& options, Value* out,
                JsonError* err) {
  if (text.size() >= std::numeric_limits<uint32_t>::max()) {
    if (err != nullptr) {
      *err = JsonError{"JSON text of 4 GiB or more", 0, 1, 1};
    }
    return false;
  }
  Parser parser(heap, text, options, err);
  return parser.parse(out);
}

bool json_write(Value v, const JsonWriteOptions& options, std::string* out, std::string* err) {
  Writer writer(options, *out, err);
  return writer.write(v);
}

}  // namespace valk::lisp
