// Internals of the reader, shared by reader.cc (structure: delimiters,
// reader macros, collections) and reader_tokens.cc (strings, characters,
// numbers, symbols and keywords). Nothing outside those files includes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lisp/heap.h"
#include "lisp/reader.h"
#include "util/hex.h"

namespace valk::lisp::reader_detail {

// ---------------------------------------------------------------------------
// Characters

inline bool is_whitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == ',';
}

inline bool is_control(char c) {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
}

// Characters that end a symbol, number or keyword. `'`, `#` and `%` are not
// among them, so `foo'`, `x#` (syntax-quote gensyms) and `%1` are tokens.
// Control characters end a token so that the next read reports them.
inline bool is_terminator(char c) {
  return is_whitespace(c) || is_control(c) || c == '(' || c == ')' || c == '[' || c == ']' ||
         c == '{' || c == '}' || c == '"' || c == ';' || c == '@' || c == '^' || c == '`' ||
         c == '~' || c == '\\';
}

inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Byte offset of the first byte in s[from..] that does not start or
// continue a well-formed UTF-8 sequence (no overlongs, no surrogates, at
// most U+10FFFF); s.size() if there is none.
size_t first_invalid_utf8(std::string_view s, size_t from);

// "line:column".
std::string pos_text(SourcePos p);

// A short rendering of a literal for error messages. The printer lives
// elsewhere; the reader only needs keys and single tokens.
std::string describe(Value v);

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

}  // namespace valk::lisp::reader_detail
