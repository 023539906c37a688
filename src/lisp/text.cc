#include "lisp/text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "lisp/printer.h"
#include "lisp/utf8.h"

namespace valk::lisp {

namespace {

// Decodes the character at s[i] and stores its length in bytes in *len.
// An invalid or truncated sequence decodes as the single byte's value, so
// callers always make progress.
uint32_t decode_at(std::string_view s, size_t i, size_t* len) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80             ? 1
             : (c & 0xE0) == 0xC0 ? 2
             : (c & 0xF0) == 0xE0 ? 3
             : (c & 0xF8) == 0xF0 ? 4
                                  : 0;
  if (n <= 1 || i + n > s.size()) {
    *len = 1;
    return c;
  }
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; k++) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) {
      *len = 1;
      return c;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  *len = n;
  return cp;
}

bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x2006) || (cp >= 0x2008 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x205F || cp == 0x3000;
}

uint32_t to_upper(uint32_t cp) {
  if (cp >= 'a' && cp <= 'z') {
    return cp - 32;
  }
  if (cp < 0xB5) {
    return cp;
  }
  if ((cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) || (cp >= 0x3B1 && cp <= 0x3CB && cp != 0x3C2) ||
      (cp >= 0x430 && cp <= 0x44F)) {
    return cp - 0x20;
  }
  if (cp == 0xFF) {
    return 0x178;
  }
  if (cp == 0x3C2) {
    return 0x3A3;  // final sigma
  }
  if (cp >= 0x450 && cp <= 0x45F) {
    return cp - 0x50;
  }
  // Latin Extended-A pairs: upper case first in 0100-0137 and 014A-0177,
  // second in 0139-0148 and 0179-017E.
  if (((cp >= 0x100 && cp <= 0x12F) || (cp >= 0x132 && cp <= 0x137) ||
       (cp >= 0x14A && cp <= 0x177)) &&
      (cp & 1) == 1) {
    return cp - 1;
  }
  if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) && (cp & 1) == 0) {
    return cp - 1;
  }
  return cp;
}

uint32_t to_lower(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') {
    return cp + 32;
  }
  if (cp < 0xC0) {
    return cp;
  }
  if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) || (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) ||
      (cp >= 0x410 && cp <= 0x42F)) {
    return cp + 0x20;
  }
  if (cp == 0x178) {
    return 0xFF;
  }
  if (cp >= 0x400 && cp <= 0x40F) {
    return cp + 0x50;
  }
  if (((cp >= 0x100 && cp <= 0x12F) || (cp >= 0x132 && cp <= 0x137) ||
       (cp >= 0x14A && cp <= 0x177)) &&
      (cp & 1) == 0) {
    return cp + 1;
  }
  if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) && (cp & 1) == 1) {
    return cp + 1;
  }
  return cp;
}

}  // namespace

size_t trim_start(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len;
    if (!is_space(decode_at(s, i, &len))) {
      break;
    }
    i += len;
  }
  return i;
}

size_t trim_end(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    // Back up to the first byte of the last character (at most 3 steps).
    while (start > 0 && end - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) {
      start--;
    }
    size_t len;
    uint32_t cp = decode_at(s, start, &len);
    if (start + len != end) {
      start = end - 1;  // not a whole character: step over the last byte
      cp = static_cast<unsigned char>(s[start]);
    }
    if (!is_space(cp)) {
      break;
    }
    end = start;
  }
  return end;
}

std::string map_case(std::string_view s, bool upper) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len;
    uint32_t cp = decode_at(s, i, &len);
    if (len == 1 && cp >= 0x80) {
      out += s[i];  // an invalid byte passes through
    } else {
      utf8_append(out, upper ? to_upper(cp) : to_lower(cp));
    }
    i += len;
  }
  return out;
}

std::vector<std::string_view> split_parts(std::string_view s, std::string_view sep, int64_t limit) {
  std::vector<std::string_view> parts;
  if (sep.empty()) {
    if (s.empty()) {
      parts.push_back(s);
      return parts;
    }
    for (size_t i = 0; i < s.size();) {
      if (limit > 0 && static_cast<int64_t>(parts.size()) == limit - 1) {
        parts.push_back(s.substr(i));
        return parts;
      }
      size_t n = utf8_offset(s.substr(i), 1);
      parts.push_back(s.substr(i, n));
      i += n;
    }
    return parts;
  }
  size_t from = 0;
  while (limit <= 0 || static_cast<int64_t>(parts.size()) < limit - 1) {
    size_t at = s.find(sep, from);
    if (at == std::string_view::npos) {
      break;
    }
    parts.push_back(s.substr(from, at - from));
    from = at + sep.size();
  }
  parts.push_back(s.substr(from));
  if (parts.size() > 1 && limit == 0) {
    while (!parts.empty() && parts.back().empty()) {
      parts.pop_back();
    }
  }
  return parts;
}

// ---------------------------------------------------------------------------
// format

namespace {

constexpr int kMaxFormatWidth = 10000;

struct Spec {
  bool left = false;   // -
  bool zero = false;   // 0
  bool plus = false;   // +
  bool space = false;  // ' '
  int width = -1;
  int precision = -1;
  char conv = 0;
};

// Pads `text` (of `chars` characters) to the spec's width.
void pad(std::string* out, std::string_view text, size_t chars, const Spec& spec) {
  size_t fill = spec.width > 0 && static_cast<size_t>(spec.width) > chars ? spec.width - chars : 0;
  if (!spec.left) {
    out->append(fill, ' ');
  }
  out->append(text);
  if (spec.left) {
    out->append(fill, ' ');
  }
}

// Formats one number with snprintf; the spec has been validated, so the
// C format built here is always well-formed.
void format_number(std::string* out, const Spec& spec, Value v) {
  std::string cfmt = "%";
  cfmt += spec.left ? "-" : "";
  cfmt += spec.zero ? "0" : "";
  cfmt += spec.plus ? "+" : "";
  cfmt += spec.space ? " " : "";
  if (spec.width > 0) {
    cfmt += std::to_string(spec.width);
  }
  if (spec.precision >= 0) {
    cfmt += "." + std::to_string(spec.precision);
  }
  char buf[64];
  std::string big;
  auto emit = [&](auto x) {
    int n = snprintf(buf, sizeof buf, cfmt.c_str(), x);
    if (n >= 0 && static_cast<size_t>(n) < sizeof buf) {
      out->append(buf, n);
    } else if (n > 0) {
      big.resize(static_cast<size_t>(n) + 1);
      snprintf(big.data(), big.size(), cfmt.c_str(), x);
      out->append(big.data(), n);
    }
  };
  switch (spec.conv) {
    case 'd':
      cfmt += "lld";
      emit(static_cast<long long>(v.i));
      return;
    case 'x':
    case 'X':
    case 'o':
      cfmt += "ll";
      cfmt += spec.conv;
      emit(static_cast<unsigned long long>(v.i));
      return;
    default:
      break;
  }
  double d = v.is_int() ? static_cast<double>(v.i) : v.d;
  if (!std::isfinite(d)) {
    // Java's spelling, padded with spaces even under the 0 flag.
    const char* text = std::isnan(d) ? "NaN"
                       : d > 0       ? (spec.plus ? "+Infinity" : "Infinity")
                                     : "-Infinity";
    pad(out, text, strlen(text), spec);
    return;
  }
  cfmt += spec.conv;
  emit(d);
}

}  // namespace

bool format_text(std::string_view fmt, const Value* args, int argc, std::string* out,
                 FormatError* err) {
  auto fail = [&](std::string message, bool type_error = false) {
    err->message = std::move(message);
    err->type_error = type_error;
    return false;
  };
  int next_arg = 0;
  size_t i = 0;
  while (i < fmt.size()) {
    size_t pct = fmt.find('%', i);
    if (pct == std::string_view::npos) {
      out->append(fmt.substr(i));
      break;
    }
    out->append(fmt.substr(i, pct - i));
    i = pct + 1;
    Spec spec;
    for (; i < fmt.size(); i++) {
      char c = fmt[i];
      if (c == '-') {
        spec.left = true;
      } else if (c == '0') {
        spec.zero = true;
      } else if (c == '+') {
        spec.plus = true;
      } else if (c == ' ') {
        spec.space = true;
      } else {
        break;
      }
    }
    auto number = [&](int* dst) {
      *dst = 0;
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') {
        if (*dst > kMaxFormatWidth) {
          return false;
        }
        *dst = *dst * 10 + (fmt[i++] - '0');
      }
      return *dst <= kMaxFormatWidth;
    };
    if (i < fmt.size() && fmt[i] >= '1' && fmt[i] <= '9' && !number(&spec.width)) {
      return fail("width above " + std::to_string(kMaxFormatWidth) + " in the format");
    }
    if (i < fmt.size() && fmt[i] == '.') {
      i++;
      if (i >= fmt.size() || fmt[i] < '0' || fmt[i] > '9') {
        return fail("a '.' in a conversion must be followed by a precision");
      }
      if (!number(&spec.precision)) {
        return fail("precision above " + std::to_string(kMaxFormatWidth) + " in the format");
      }
    }
    if (i >= fmt.size()) {
      return fail("the format ends inside a conversion (at byte " + std::to_string(pct) + ")");
    }
    size_t conv_len;
    decode_at(fmt, i, &conv_len);
    std::string conv_text(fmt.substr(pct, i + conv_len - pct));
    spec.conv = fmt[i];
    i += conv_len;
    bool flagged = spec.left || spec.zero || spec.plus || spec.space;
    bool is_int_conv = spec.conv == 'd' || spec.conv == 'x' || spec.conv == 'X' || spec.conv == 'o';
    bool is_float_conv = spec.conv == 'f' || spec.conv == 'e' || spec.conv == 'E' ||
                         spec.conv == 'g' || spec.conv == 'G';
    bool is_text_conv = spec.conv == 's' || spec.conv == 'b';
    if (spec.conv == '%' || spec.conv == 'n') {
      if (flagged || spec.width >= 0 || spec.precision >= 0) {
        return fail("%" + std::string(1, spec.conv) + " takes no flags, width or precision, in " +
                    conv_text);
      }
      *out += spec.conv == '%' ? '%' : '\n';
      continue;
    }
    if (!is_int_conv && !is_float_conv && !is_text_conv) {
      return fail("unknown conversion " + conv_text);
    }
    if ((spec.left || spec.zero) && spec.width < 0) {
      return fail("the - and 0 flags need a width, in " + conv_text);
    }
    if (spec.left && spec.zero) {
      return fail("the - and 0 flags cannot be combined, in " + conv_text);
    }
    if (is_text_conv && (spec.zero || spec.plus || spec.space)) {
      return fail("%" + std::string(1, spec.conv) + " takes no 0, + or space flag, in " +
                  conv_text);
    }
    if (spec.conv != 'd' && !is_float_conv && (spec.plus || spec.space)) {
      return fail("the + and space flags need a signed conversion, in " + conv_text);
    }
    if (is_int_conv && spec.precision >= 0) {
      return fail("integer conversions take no precision, in " + conv_text);
    }
    if (next_arg >= argc) {
      return fail("not enough arguments: " + conv_text + " has none left");
    }
    Value v = args[next_arg++];
    if (is_int_conv && !v.is_int()) {
      return fail(conv_text + " needs an integer, got " + std::string(type_name(v)), true);
    }
    if (is_float_conv && !v.is_number()) {
      return fail(conv_text + " needs a number, got " + std::string(type_name(v)), true);
    }
    if (spec.conv == 's' || spec.conv == 'b') {
      std::string text;
      if (spec.conv == 'b') {
        text = v.truthy() ? "true" : "false";
      } else if (v.is_nil()) {
        text = "nil";
      } else {
        print_for_str(text, v);  // a string raw, anything else readably
      }
      size_t chars = utf8_count(text);
      if (spec.precision >= 0 && static_cast<size_t>(spec.precision) < chars) {
        text.resize(utf8_offset(text, spec.precision));
        chars = spec.precision;
      }
      pad(out, text, chars, spec);
    } else {
      format_number(out, spec, v);
    }
  }
  if (next_arg < argc) {
    return fail("too many arguments: the format uses " + std::to_string(next_arg) + ", got " +
                std::to_string(argc));
  }
  return true;
}

// ---------------------------------------------------------------------------
// Parsing numbers

bool parse_long_text(std::string_view s, int64_t* out) {
  bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    s.remove_prefix(1);
  }
  if (s.empty()) {
    return false;
  }
  uint64_t mag = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    if (mag > (std::numeric_limits<uint64_t>::max() - 9) / 10) {
      return false;
    }
    mag = mag * 10 + static_cast<uint64_t>(c - '0');
  }
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (mag > kMax + (negative ? 1 : 0)) {
    return false;
  }
  *out = negative ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
  return true;
}

bool parse_double_text(std::string_view s, double* out) {
  while (!s.empty() && static_cast<unsigned char>(s.front()) <= ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && static_cast<unsigned char>(s.back()) <= ' ') {
    s.remove_suffix(1);
  }
  bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    s.remove_prefix(1);
  }
  if (s == "Infinity") {
    *out = negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  // Validate the grammar and estimate the decimal exponent of the first
  // significant digit, which decides overflow against underflow.
  size_t i = 0;
  size_t digits = 0;
  int64_t magnitude = 0;  // decimal exponent of the first nonzero digit, plus one
  bool seen_nonzero = false;
  int64_t int_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    seen_nonzero = seen_nonzero || s[i] != '0';
    int_digits += seen_nonzero ? 1 : 0;
    i++;
    digits++;
  }
  magnitude = int_digits;
  if (i < s.size() && s[i] == '.') {
    i++;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (!seen_nonzero) {
        if (s[i] == '0') {
          magnitude--;
        } else {
          seen_nonzero = true;
        }
      }
      i++;
      digits++;
    }
  }
  if (digits == 0) {
    return false;
  }
  int64_t exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    bool exp_negative = i < s.size() && s[i] == '-';
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
      i++;
    }
    size_t exp_start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      exponent = exponent < 100000 ? exponent * 10 + (s[i] - '0') : exponent;
      i++;
    }
    if (i == exp_start) {
      return false;
    }
    exponent = exp_negative ? -exponent : exponent;
  }
  if (i != s.size()) {
    return false;
  }
  double d = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec == std::errc::result_out_of_range) {
    d = seen_nonzero && magnitude + exponent > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  } else if (ec != std::errc() || ptr != s.data() + s.size()) {
    return false;
  }
  *out = negative ? -d : d;
  return true;
}

}  // namespace valk::lisp
