#include "lisp/text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "lisp/heap.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace {

std::string joined(const std::vector<std::string_view>& parts) {
  std::string out = "[";
  for (size_t i = 0; i < parts.size(); i++) {
    out += (i > 0 ? "|" : "") + std::string(parts[i]);
  }
  return out + "]";
}

TEST(Text, SplitFollowsJavaStringSplit) {
  EXPECT_EQ(joined(split_parts("a,b,c", ",", 0)), "[a|b|c]");
  EXPECT_EQ(joined(split_parts("a,b,,", ",", 0)), "[a|b]");
  EXPECT_EQ(joined(split_parts("a,b,,", ",", -1)), "[a|b||]");
  EXPECT_EQ(joined(split_parts(",,,", ",", 0)), "[]");
  EXPECT_EQ(joined(split_parts("", ",", 0)), "[]") << "one empty part";
  EXPECT_EQ(split_parts("", ",", 0).size(), 1u);
  EXPECT_EQ(joined(split_parts("a,b,c", ",", 2)), "[a|b,c]");
  EXPECT_EQ(joined(split_parts("a,b,c", ",", 1)), "[a,b,c]");
  EXPECT_EQ(joined(split_parts("λé", "", 0)), "[λ|é]");
  EXPECT_EQ(joined(split_parts("abc", "", 2)), "[a|bc]");
}

TEST(Text, TrimKnowsUnicodeSpacesAndSurvivesInvalidBytes) {
  std::string s = "\u2003 x \u3000";
  EXPECT_EQ(s.substr(trim_start(s), trim_end(s) - trim_start(s)), "x");
  std::string bad = "\xff \x80";
  EXPECT_EQ(trim_start(bad), 0u);
  EXPECT_EQ(trim_end(bad), 3u);
  EXPECT_EQ(trim_end(" \xe3\x80"), 3u);  // a truncated sequence is not a space
  EXPECT_EQ(trim_start("   "), 3u);
  EXPECT_EQ(trim_end("   "), 0u);
}

TEST(Text, CaseMapping) {
  EXPECT_EQ(map_case("abc XYZ 1", true), "ABC XYZ 1");
  EXPECT_EQ(map_case("ÀÉÎÕÜ ÿ", false), "àéîõü ÿ");
  EXPECT_EQ(map_case("ÿ", true), "Ÿ");
  EXPECT_EQ(map_case("ς", true), "Σ");
  EXPECT_EQ(map_case("ĀāĹĺ", true), "ĀĀĹĹ");
  EXPECT_EQ(map_case("ĀāĹĺ", false), "āāĺĺ");
  EXPECT_EQ(map_case("ёЁ", true), "ЁЁ");
  EXPECT_EQ(map_case("a\xff", true), "A\xff");
}

std::string fmt(std::string_view f, std::vector<Value> args, bool* ok = nullptr) {
  std::string out;
  FormatError err;
  bool r = format_text(f, args.data(), static_cast<int>(args.size()), &out, &err);
  if (ok != nullptr) {
    *ok = r;
  }
  return r ? out : (err.type_error ? "TYPE " : "FORMAT ") + err.message;
}

TEST(Text, Format) {
  Heap heap;
  Value i42 = Value::integer(42);
  EXPECT_EQ(fmt("%d|%5d|%-5d|%05d|%+d", {i42, i42, i42, i42, i42}), "42|   42|42   |00042|+42");
  EXPECT_EQ(fmt("%.3f %e %g", {Value::number(3.14159), Value::number(1.5), Value::number(0.5)}),
            "3.142 1.500000e+00 0.5");
  EXPECT_EQ(fmt("%x %o", {Value::integer(-1), Value::integer(8)}), "ffffffffffffffff 10");
  EXPECT_EQ(fmt("%s|%3s|%.1s", {heap.string("λé"), heap.string("λ"), heap.string("λé")}),
            "λé|  λ|λ");
  EXPECT_EQ(fmt("%5f", {Value::number(INFINITY)}), "Infinity");
  EXPECT_EQ(fmt("%10f|", {Value::number(-INFINITY)}), " -Infinity|");
  EXPECT_EQ(fmt("%.0f", {Value::number(1e300)}).size(), 301u);
  EXPECT_EQ(fmt("%d", {heap.string("x")}), "TYPE %d needs an integer, got string");
  EXPECT_EQ(fmt("%d", {}), "FORMAT not enough arguments: %d has none left");
  EXPECT_EQ(fmt("%", {}), "FORMAT the format ends inside a conversion (at byte 0)");
  EXPECT_EQ(fmt("%.", {}), "FORMAT a '.' in a conversion must be followed by a precision");
  EXPECT_EQ(fmt("%λ", {i42}), "FORMAT unknown conversion %λ");
  EXPECT_EQ(fmt("%0s", {i42}), "FORMAT the - and 0 flags need a width, in %0s");
  EXPECT_EQ(fmt("%05s", {i42}), "FORMAT %s takes no 0, + or space flag, in %05s");
  EXPECT_EQ(fmt("%+x", {i42}), "FORMAT the + and space flags need a signed conversion, in %+x");
  EXPECT_EQ(fmt("%10001d", {i42}), "FORMAT width above 10000 in the format");
  EXPECT_EQ(fmt("%.99999999999999999999f", {i42}), "FORMAT precision above 10000 in the format");
}

TEST(Text, ParseLong) {
  int64_t v = 0;
  EXPECT_TRUE(parse_long_text("-9223372036854775808", &v));
  EXPECT_EQ(v, INT64_MIN);
  EXPECT_TRUE(parse_long_text("+007", &v));
  EXPECT_EQ(v, 7);
  EXPECT_FALSE(parse_long_text("9223372036854775808", &v));
  EXPECT_FALSE(parse_long_text("99999999999999999999999", &v));
  EXPECT_FALSE(parse_long_text("-", &v));
  EXPECT_FALSE(parse_long_text("0x10", &v));
}

TEST(Text, ParseDouble) {
  double d = 0;
  EXPECT_TRUE(parse_double_text("\t1.25e2\n", &d));
  EXPECT_EQ(d, 125.0);
  EXPECT_TRUE(parse_double_text(".5", &d));
  EXPECT_EQ(d, 0.5);
  EXPECT_TRUE(parse_double_text("1e999", &d));
  EXPECT_TRUE(std::isinf(d));
  EXPECT_TRUE(parse_double_text("0.0000001e-999", &d));
  EXPECT_EQ(d, 0.0);
  EXPECT_TRUE(parse_double_text("-0", &d));
  EXPECT_TRUE(std::signbit(d));
  EXPECT_FALSE(parse_double_text("", &d));
  EXPECT_FALSE(parse_double_text("e5", &d));
  EXPECT_FALSE(parse_double_text("1.5x", &d));
  EXPECT_FALSE(parse_double_text("0x1p3", &d));
  EXPECT_FALSE(parse_double_text("inf", &d));
}

// utf8_count takes a shortcut for ASCII: a multi-byte character anywhere,
// in a whole word or in the tail past the last one, must still be seen.
TEST(Text, Utf8CountSeesMultiByteCharactersAnywhere) {
  EXPECT_EQ(utf8_count(""), 0u);
  EXPECT_EQ(utf8_count("abc"), 3u);
  EXPECT_EQ(utf8_count("abcdefghijklmnopq"), 17u);
  std::string ascii(40, 'a');
  for (size_t at = 0; at + 2 <= ascii.size(); at++) {
    std::string s = ascii;
    s.replace(at, 2, "\xc3\xa9");  // é, two bytes for one code point
    EXPECT_EQ(utf8_count(s), 39u) << "é at byte " << at;
  }
  EXPECT_EQ(utf8_count("\xf0\x9f\x98\x80"), 1u);                  // one 4-byte emoji
  EXPECT_EQ(utf8_count("abcdefgh\xce\xbb"), 9u);                  // in the tail
  EXPECT_EQ(utf8_count("\xce\xb1\xce\xb1\xce\xb1\xce\xb1"), 4u);  // whole words
}

}  // namespace
}  // namespace valk::lisp
