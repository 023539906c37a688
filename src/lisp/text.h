// Text algorithms behind the string natives, kept free of the isolate so
// they can be tested on their own. Input strings are UTF-8; an invalid
// byte is treated as one character and never makes these functions fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lisp/value.h"

namespace valk::lisp {

// Byte offset of the first character of `s` that is not whitespace (as
// Java's Character.isWhitespace: ASCII whitespace and the Unicode space
// separators other than no-break spaces); s.size() if there is none.
size_t trim_start(std::string_view s);
// Byte offset just past the last non-whitespace character; 0 if none.
size_t trim_end(std::string_view s);

// `s` with letters mapped to upper (or lower) case: ASCII, Latin-1,
// Latin Extended-A, Greek and Cyrillic. Other characters are unchanged and
// the result never changes length in characters.
std::string map_case(std::string_view s, bool upper);

// Splits `s` at every occurrence of `sep`, as Java's String.split with a
// literal separator: `limit` > 0 gives at most `limit` parts (the last one
// holds the rest); `limit` == 0 drops trailing empty parts; `limit` < 0
// keeps them. An empty `sep` splits between characters. Input without a
// separator gives one part, the whole input (even when empty). The parts
// point into `s`.
std::vector<std::string_view> split_parts(std::string_view s, std::string_view sep, int64_t limit);

struct FormatError {
  std::string message;
  bool type_error = false;  // an argument has the wrong type (else: bad format)
};

// printf-style formatting for `format`, after Java's Formatter:
//   %[flags][width][.precision]conversion
// Flags: - (left-justify, needs a width), 0 (zero-pad numbers, needs a
// width), + and space (sign of numbers). Conversions:
//   s        a string raw, nil as "nil", anything else as `pr-str` shows
//            it; a precision truncates to that many characters
//   d        an integer
//   x X o    an integer, in two's complement when negative
//   f e E g G  any number
//   b        truthiness ("true" or "false")
//   %% %n    a percent sign, a newline
// The argument count must match the format exactly. Width and precision
// are at most 10000. Returns false with *err set on a malformed format, a
// count mismatch or a wrong argument type.
bool format_text(std::string_view fmt, const Value* args, int argc, std::string* out,
                 FormatError* err);

// Parses [+-]?[0-9]+ within int64; false otherwise (including overflow).
bool parse_long_text(std::string_view s, int64_t* out);

// Parses decimal floating-point text as Java's Double/parseDouble does:
// surrounding ASCII whitespace and control characters are ignored; then a
// sign, digits with an optional '.' (at least one digit) and an optional
// exponent, or Infinity or NaN. Out-of-range magnitudes become infinity or
// zero. False when the text is not a number.
bool parse_double_text(std::string_view s, double* out);

}  // namespace valk::lisp
