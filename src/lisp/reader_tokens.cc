// The reader's tokens: strings, character literals, symbols, keywords,
// numbers and #() argument literals.
#include <charconv>
#include <cstdio>
#include <limits>

#include "lisp/reader_internal.h"
#include "lisp/utf8.h"

namespace valk::lisp::reader_detail {

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

}  // namespace valk::lisp::reader_detail
