// The JSON parser and writer (json.h), and the json/parse and json/write
// natives on a bare isolate.
#include "lisp/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "bare_isolate.h"
#include "lisp/collections.h"
#include "lisp/heap.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"

namespace valk::lisp {
namespace {

class JsonTest : public ::testing::Test {
 protected:
  // The parsed value printed readably, or "ERROR <message at l:c>".
  std::string Parse(std::string_view text, bool keywordize = true) {
    JsonParseOptions o;
    o.keywordize = keywordize;
    Value v;
    JsonError err;
    if (!json_parse(heap_, text, o, &v, &err)) {
      return "ERROR " + err.to_string();
    }
    return print_str(v, true);
  }

  Value ParseValue(std::string_view text) {
    Value v = Value::sentinel(Tag::Exception);
    JsonError err;
    EXPECT_TRUE(json_parse(heap_, text, JsonParseOptions(), &v, &err)) << err.to_string();
    return v;
  }

  JsonError ParseError(std::string_view text, size_t max_depth = 512) {
    JsonParseOptions o;
    o.max_depth = max_depth;
    Value v;
    JsonError err;
    EXPECT_FALSE(json_parse(heap_, text, o, &v, &err)) << text;
    return err;
  }

  // The written text, or "ERROR <message>".
  std::string Write(Value v, bool pretty = false, bool escape_slash = false) {
    JsonWriteOptions o;
    o.pretty = pretty;
    o.escape_slash = escape_slash;
    std::string out;
    std::string err;
    if (!json_write(v, o, &out, &err)) {
      return "ERROR " + err;
    }
    return out;
  }

  Value Vec(std::initializer_list<Value> items) {
    return vector_from(heap_, items.begin(), items.size());
  }
  Value Map(std::initializer_list<Value> kvs) {
    return map_from(heap_, kvs.begin(), kvs.size() / 2);
  }
  Value S(std::string_view s) { return heap_.string(s); }
  Value K(std::string_view s) { return heap_.keyword(s); }

  Heap heap_;
};

Value I(int64_t i) {
  return Value::integer(i);
}
Value D(double d) {
  return Value::number(d);
}

// ---- parsing values -------------------------------------------------------------

TEST_F(JsonTest, ParsesScalars) {
  EXPECT_EQ(Parse("null"), "nil");
  EXPECT_EQ(Parse("true"), "true");
  EXPECT_EQ(Parse("false"), "false");
  EXPECT_EQ(Parse("0"), "0");
  EXPECT_EQ(Parse("-12"), "-12");
  EXPECT_EQ(Parse("1.5"), "1.5");
  EXPECT_EQ(Parse("\"hi\""), "\"hi\"");
  EXPECT_EQ(Parse(" \t\r\n 42 \n"), "42");
}

TEST_F(JsonTest, NumbersIntegralAreIntsOthersDoubles) {
  EXPECT_EQ(Parse("1.0"), "1.0");
  EXPECT_EQ(Parse("1e2"), "100.0");
  EXPECT_EQ(Parse("1E+2"), "100.0");
  EXPECT_EQ(Parse("25e-1"), "2.5");
  EXPECT_EQ(Parse("-0"), "0");
  Value nz = ParseValue("-0.0");
  ASSERT_TRUE(nz.is_double());
  EXPECT_TRUE(std::signbit(nz.d));
  EXPECT_EQ(Parse("0.1"), "0.1");
  EXPECT_EQ(Parse("1.7976931348623157e308"), "1.7976931348623157E308");
  EXPECT_EQ(Parse("5e-324"), "5.0E-324");
  // Underflow rounds to zero; overflow is an error.
  EXPECT_EQ(Parse("1e-400"), "0.0");
  EXPECT_EQ(Parse("-0.000000001e-999999999999999999999"), "-0.0");
  EXPECT_EQ(Parse("1e400"), "ERROR number too large for a double at 1:1");
  EXPECT_EQ(Parse("[1, -123456789e999]"), "ERROR number too large for a double at 1:5");
}

TEST_F(JsonTest, NumbersAtTheInt64Edges) {
  EXPECT_EQ(Parse("9223372036854775807"), "9223372036854775807");
  EXPECT_EQ(Parse("-9223372036854775808"), "-9223372036854775808");
  Value v = ParseValue("9223372036854775808");
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.d, 9223372036854775808.0);
  v = ParseValue("-9223372036854775809");
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.d, -9223372036854775808.0);
  v = ParseValue("18446744073709551616");
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.d, 18446744073709551616.0);
  v = ParseValue("123456789012345678901234567890");
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.d, 1.2345678901234568e29);
}

TEST_F(JsonTest, ArraysAndObjects) {
  EXPECT_EQ(Parse("[]"), "[]");
  EXPECT_EQ(Parse("{}"), "{}");
  EXPECT_EQ(Parse("[1, [2, []], {}]"), "[1 [2 []] {}]");
  EXPECT_EQ(Parse("{\"a\": 1, \"b\": [true, null]}"), "{:a 1, :b [true nil]}");
  EXPECT_EQ(Parse("{\"a\": 1, \"b\": {\"c\": \"d\"}}", false), "{\"a\" 1, \"b\" {\"c\" \"d\"}}");
  EXPECT_EQ(Parse(" [ 1 , 2 ] "), "[1 2]");
  EXPECT_EQ(Parse("{ \"a\" : 1 }"), "{:a 1}");
  // Keys need not be valid symbols.
  Value m = ParseValue("{\"\": 1, \"a b\": 2, \"é\\n\": 3}");
  Value out;
  EXPECT_TRUE(map_find(m, K(""), &out) && equal(out, I(1)));
  EXPECT_TRUE(map_find(m, K("a b"), &out) && equal(out, I(2)));
  EXPECT_TRUE(map_find(m, K("é\n"), &out) && equal(out, I(3)));
}

TEST_F(JsonTest, DuplicateKeysLastWins) {
  EXPECT_EQ(Parse("{\"a\": 1, \"b\": 2, \"a\": 3}"), "{:a 3, :b 2}");
  // Past the array-map size too.
  std::string text = "{";
  for (int i = 0; i < 20; i++) {
    text += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ", ";
  }
  text += "\"k3\": \"last\"}";
  Value m = ParseValue(text);
  EXPECT_EQ(map_count(m), 20u);
  Value out;
  ASSERT_TRUE(map_find(m, K("k3"), &out));
  EXPECT_TRUE(equal(out, S("last")));
}

TEST_F(JsonTest, StringEscapes) {
  EXPECT_EQ(Parse(R"("a\"b\\c\/d\b\f\n\r\t")"), R"("a\"b\\c/d\u0008\u000c\n\r\t")");
  Value v = ParseValue(R"("\u0000x\u00e9\u20AC")");
  ASSERT_TRUE(v.is(Tag::String));
  EXPECT_EQ(static_cast<String*>(v.o)->view(), std::string_view("\0x\xC3\xA9\xE2\x82\xAC", 7));
  EXPECT_EQ(static_cast<String*>(v.o)->char_count, 4u);
  // Raw UTF-8 passes through, with and without escapes around it.
  v = ParseValue("\"h\xC3\xA9llo \xF0\x9F\x98\x80\"");
  EXPECT_EQ(static_cast<String*>(v.o)->view(), "h\xC3\xA9llo \xF0\x9F\x98\x80");
  v = ParseValue("\"\xC3\xA9\\n\xC3\xA9\"");
  EXPECT_EQ(static_cast<String*>(v.o)->view(), "\xC3\xA9\n\xC3\xA9");
}

TEST_F(JsonTest, SurrogatePairs) {
  Value v = ParseValue(R"("\ud83d\ude00 \uD834\uDD1E")");
  EXPECT_EQ(static_cast<String*>(v.o)->view(), "\xF0\x9F\x98\x80 \xF0\x9D\x84\x9E");
  v = ParseValue(R"("\udbff\udfff")");
  EXPECT_EQ(static_cast<String*>(v.o)->view(), "\xF4\x8F\xBF\xBF");
}

// ---- parse errors and their positions --------------------------------------------

struct ErrorCase {
  const char* text;
  const char* message;
  uint32_t line;
  uint32_t column;
};

TEST_F(JsonTest, ErrorsNameTheProblemAndItsPlace) {
  const ErrorCase cases[] = {
      {"", "unexpected end of input, expected a JSON value", 1, 1},
      {"   ", "unexpected end of input, expected a JSON value", 1, 4},
      {"[1, 2,]", "trailing comma before ']'", 1, 6},
      {"{\"a\": 1,}", "trailing comma before '}'", 1, 8},
      {"{\"a\": 1\n \"b\": 2}", "unexpected '\"', expected ',' or '}' after object member", 2, 2},
      {"[1 2]", "unexpected '2', expected ',' or ']' after array element", 1, 4},
      {"{\n  \"a\": 1,\n  \"b\": 2 3}", "unexpected '3', expected ',' or '}' after object member",
       3, 10},
      {"{\"a\" 1}", "unexpected '1', expected ':' after object key", 1, 6},
      {"{a: 1}", "unexpected 'a', expected a string key or '}'", 1, 2},
      {"{\"a\": 1, b: 2}", "unexpected 'b', expected a string key after ','", 1, 10},
      {"{'a': 1}", "unexpected ''', expected a string key or '}'", 1, 2},
      {"[1] x", "unexpected 'x', expected end of input after the JSON value", 1, 5},
      {"1 2", "unexpected '2', expected end of input after the JSON value", 1, 3},
      {"[1, 2", "unexpected end of input, expected ',' or ']' after array element", 1, 6},
      {"{\"a\":", "unexpected end of input, expected a JSON value", 1, 6},
      {"[// c\n1]", "unexpected '/', expected a JSON value", 1, 2},
      {"[1 /* c */]", "unexpected '/', expected ',' or ']' after array element", 1, 4},
      {"01", "leading zeros are not allowed in numbers", 1, 1},
      {"[-012]", "leading zeros are not allowed in numbers", 1, 3},
      {"-", "unexpected end of input, expected a digit after '-'", 1, 2},
      {"-a", "unexpected 'a', expected a digit after '-'", 1, 2},
      {"1.", "unexpected end of input, expected a digit after '.'", 1, 3},
      {".5", "unexpected '.', expected a JSON value", 1, 1},
      {"1.e5", "unexpected 'e', expected a digit after '.'", 1, 3},
      {"1e", "unexpected end of input, expected a digit in the exponent", 1, 3},
      {"1e+", "unexpected end of input, expected a digit in the exponent", 1, 4},
      {"+1", "unexpected '+', expected a JSON value", 1, 1},
      {"NaN", "invalid literal 'NaN', expected true, false or null", 1, 1},
      {"[Infinity]", "invalid literal 'Infinity', expected true, false or null", 1, 2},
      {"-Infinity", "unexpected 'I', expected a digit after '-'", 1, 2},
      {"tru", "invalid literal 'tru', expected true, false or null", 1, 1},
      {"truex", "invalid literal 'truex', expected true, false or null", 1, 1},
      {"nul", "invalid literal 'nul', expected true, false or null", 1, 1},
      {"True", "invalid literal 'True', expected true, false or null", 1, 1},
      {"\"abc", "unterminated string", 1, 1},
      {"[\"a\", \"b", "unterminated string", 1, 7},
      {"\"a\nb\"", "control character U+000A must be escaped in a string", 1, 3},
      {"\"a\tb\"", "control character U+0009 must be escaped in a string", 1, 3},
      {"\"\\x\"", "invalid escape '\\x' in string", 1, 2},
      {"\"\\'\"", "invalid escape '\\'' in string", 1, 2},
      {"\"\\u12\"", "expected four hex digits after '\\u'", 1, 2},
      {"\"\\u12G4\"", "expected four hex digits after '\\u'", 1, 2},
      {"\"\\", "unexpected end of input in escape sequence", 1, 3},
      {"\"ab\\ud800\"", "high surrogate in '\\u' escape not followed by a low surrogate", 1, 4},
      {"\"\\ud800\\u0041\"", "high surrogate in '\\u' escape not followed by a low surrogate", 1,
       2},
      {"\"\\ud800\\ud800\"", "high surrogate in '\\u' escape not followed by a low surrogate", 1,
       2},
      {"\"\\udc00\"", "lone low surrogate in '\\u' escape", 1, 2},
      {"\xEF\xBB\xBF{}", "unexpected byte order mark (U+FEFF)", 1, 1},
      {"\x01", "unexpected control character U+0001, expected a JSON value", 1, 1},
      {"\xC3\xA9", "unexpected '\xC3\xA9', expected a JSON value", 1, 1},
      // Columns count code points, not bytes.
      {"{\"\xC3\xA9\xC3\xA9\": 1,}", "trailing comma before '}'", 1, 9},
      {"[\"\xF0\x9F\x98\x80\"\n,\"\xE2\x82\xAC\" 1]",
       "unexpected '1', expected ',' or ']' after array element", 2, 6},
  };
  for (const ErrorCase& c : cases) {
    JsonError err = ParseError(c.text);
    EXPECT_EQ(err.message, c.message) << c.text;
    EXPECT_EQ(err.line, c.line) << c.text;
    EXPECT_EQ(err.column, c.column) << c.text;
  }
  JsonError err = ParseError("{\n  \"a\": 1\n  \"b\": 2}");
  EXPECT_EQ(err.to_string(), "unexpected '\"', expected ',' or '}' after object member at 3:3");
  EXPECT_EQ(err.offset, 13u);
}

TEST_F(JsonTest, InvalidUtf8IsAnError) {
  const ErrorCase cases[] = {
      {"\"\xC0\x80\"", "invalid UTF-8 in string", 1, 2},          // overlong NUL
      {"\"\xE0\x80\xAF\"", "invalid UTF-8 in string", 1, 2},      // overlong '/'
      {"\"\xED\xA0\x80\"", "invalid UTF-8 in string", 1, 2},      // encoded surrogate
      {"\"\xF4\x90\x80\x80\"", "invalid UTF-8 in string", 1, 2},  // past U+10FFFF
      {"\"\xF5\x80\x80\x80\"", "invalid UTF-8 in string", 1, 2},
      {"\"ab\xE2\x82\"", "invalid UTF-8 in string", 1, 4},  // truncated
      {"\"ab\xE2\x82", "invalid UTF-8 in string", 1, 4},    // truncated at the end
      {"\"\x80\"", "invalid UTF-8 in string", 1, 2},        // stray continuation
      {"\"\xFF\"", "invalid UTF-8 in string", 1, 2},
      {"\"a\\n\xFE\"", "invalid UTF-8 in string", 1, 5},  // after an escape
      {"[\xFF]", "invalid UTF-8", 1, 2},
      {"{\"\xC1\xBF\": 1}", "invalid UTF-8 in string", 1, 3},
  };
  for (const ErrorCase& c : cases) {
    JsonError err = ParseError(c.text);
    EXPECT_EQ(err.message, c.message) << c.text;
    EXPECT_EQ(err.line, c.line) << c.text;
    EXPECT_EQ(err.column, c.column) << c.text;
  }
}

TEST_F(JsonTest, NestingLimit) {
  std::string ok(512, '[');
  ok += std::string(512, ']');
  EXPECT_EQ(Parse(ok).substr(0, 4), "[[[[");
  std::string deep(513, '[');
  deep += std::string(513, ']');
  JsonError err = ParseError(deep);
  EXPECT_EQ(err.message, "arrays and objects nested deeper than 512 levels");
  EXPECT_EQ(err.column, 513u);
  err = ParseError("{\"a\": {\"b\": [1]}}", 2);
  EXPECT_EQ(err.message, "arrays and objects nested deeper than 2 levels");
  EXPECT_EQ(err.column, 13u);
  // An unbounded limit costs heap, not C++ stack, in both directions.
  const size_t n = 200000;
  std::string huge;
  for (size_t i = 0; i < n; i++) {
    huge += "{\"a\":[";
  }
  huge += "null";
  for (size_t i = 0; i < n; i++) {
    huge += "]}";
  }
  JsonParseOptions o;
  o.max_depth = std::numeric_limits<size_t>::max();
  Value v;
  JsonError e;
  ASSERT_TRUE(json_parse(heap_, huge, o, &v, &e)) << e.to_string();
  EXPECT_EQ(Write(v), huge);
  // Unclosed deep nesting reports the end.
  err = ParseError(std::string(100, '['), 1000);
  EXPECT_EQ(err.message, "unexpected end of input, expected a JSON value");
  EXPECT_EQ(err.column, 101u);
}

TEST_F(JsonTest, ErrorOutputIsOptional) {
  Value v = I(7);
  EXPECT_FALSE(json_parse(heap_, "[", JsonParseOptions(), &v, nullptr));
  EXPECT_TRUE(equal(v, I(7)));  // untouched on failure
  std::string out;
  EXPECT_FALSE(json_write(D(NAN), JsonWriteOptions(), &out, nullptr));
}

// ---- writing ----------------------------------------------------------------------

TEST_F(JsonTest, WritesScalars) {
  EXPECT_EQ(Write(Value::nil()), "null");
  EXPECT_EQ(Write(Value::boolean(true)), "true");
  EXPECT_EQ(Write(Value::boolean(false)), "false");
  EXPECT_EQ(Write(I(0)), "0");
  EXPECT_EQ(Write(I(std::numeric_limits<int64_t>::min())), "-9223372036854775808");
  EXPECT_EQ(Write(I(std::numeric_limits<int64_t>::max())), "9223372036854775807");
  EXPECT_EQ(Write(S("hi")), "\"hi\"");
  EXPECT_EQ(Write(K("ok")), "\"ok\"");
  EXPECT_EQ(Write(K("ns/ok")), "\"ns/ok\"");
  EXPECT_EQ(Write(heap_.symbol("sym")), "\"sym\"");
}

TEST_F(JsonTest, WritesDoublesShortestAndAsDoubles) {
  EXPECT_EQ(Write(D(1.0)), "1.0");
  EXPECT_EQ(Write(D(-0.0)), "-0.0");
  EXPECT_EQ(Write(D(0.1)), "0.1");
  EXPECT_EQ(Write(D(0.1 + 0.2)), "0.30000000000000004");
  EXPECT_EQ(Write(D(1e300)), "1e+300");
  EXPECT_EQ(Write(D(1.5e-7)), "1.5e-07");
  EXPECT_EQ(Write(D(5e-324)), "5e-324");
  EXPECT_EQ(Write(D(123456789.0)), "123456789.0");
  for (double d : {0.1, 1.0 / 3, 5e-324, 1.7976931348623157e308, -2.5, 1e16, 1e21, 4.35}) {
    Value v = ParseValue(Write(D(d)));
    ASSERT_TRUE(v.is_double()) << d;
    EXPECT_EQ(v.d, d);
  }
  EXPECT_EQ(Write(D(NAN)), "ERROR cannot write NaN as JSON");
  EXPECT_EQ(Write(D(INFINITY)), "ERROR cannot write an infinity as JSON");
  EXPECT_EQ(Write(Vec({I(1), D(-INFINITY)})), "ERROR cannot write an infinity as JSON (at [1])");
}

TEST_F(JsonTest, WritesEscapedStrings) {
  EXPECT_EQ(Write(S("a\"b\\c/d")), R"("a\"b\\c/d")");
  EXPECT_EQ(Write(S("\n\r\t\b\f")), R"("\n\r\t\b\f")");
  EXPECT_EQ(Write(S(std::string_view("\0\x01\x1f\x7f", 4))), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(Write(S("h\xC3\xA9 \xF0\x9F\x98\x80")), "\"h\xC3\xA9 \xF0\x9F\x98\x80\"");
  EXPECT_EQ(Write(S("</script>\xE2\x80\xA8\xE2\x80\xA9"), false, true),
            R"("<\/script>\u2028\u2029")");
  EXPECT_EQ(Write(S("</script>\xE2\x80\xA8"), false, false), "\"</script>\xE2\x80\xA8\"");
  EXPECT_EQ(Write(S("bad \xFF")), "ERROR cannot write a string that is not valid UTF-8 as JSON");
  EXPECT_EQ(Write(S("\xED\xA0\x80")),
            "ERROR cannot write a string that is not valid UTF-8 as JSON");
}

TEST_F(JsonTest, WritesCollections) {
  EXPECT_EQ(Write(Vec({})), "[]");
  EXPECT_EQ(Write(Map({})), "{}");
  EXPECT_EQ(Write(Vec({I(1), S("a"), Vec({Value::nil()}), Map({})})), "[1,\"a\",[null],{}]");
  EXPECT_EQ(Write(heap_.list({I(1), I(2)})), "[1,2]");
  EXPECT_EQ(Write(Value::empty_list()), "[]");
  Value one = I(1);
  EXPECT_EQ(Write(set_from(heap_, &one, 1)), "[1]");
  EXPECT_EQ(Write(Map({K("a"), I(1), S("b c"), I(2)})), R"({"a":1,"b c":2})");
  // Keys other than keywords and strings use their printed form.
  EXPECT_EQ(Write(Map({I(1), S("x"), heap_.symbol("s"), I(2), D(1.5), I(3), Value::nil(), I(4)})),
            R"({"1":"x","s":2,"1.5":3,"nil":4})");
  EXPECT_EQ(Write(Map({Vec({S("k")}), I(1)})), R"({"[\"k\"]":1})");
  // A big vector, across trie chunks.
  std::vector<Value> items;
  std::string expected = "[";
  for (int i = 0; i < 1000; i++) {
    items.push_back(I(i));
    expected += (i ? "," : "") + std::to_string(i);
  }
  expected += "]";
  EXPECT_EQ(Write(vector_from(heap_, items.data(), items.size())), expected);
}

TEST_F(JsonTest, WritesPretty) {
  Value v = Map({K("a"), I(1), K("b"), Vec({I(2), Map({K("c"), Value::nil()}), Vec({}), Map({})})});
  EXPECT_EQ(Write(v, true),
            "{\n"
            "  \"a\": 1,\n"
            "  \"b\": [\n"
            "    2,\n"
            "    {\n"
            "      \"c\": null\n"
            "    },\n"
            "    [],\n"
            "    {}\n"
            "  ]\n"
            "}");
  EXPECT_EQ(Write(I(1), true), "1");
  EXPECT_EQ(Write(Vec({}), true), "[]");
}

TEST_F(JsonTest, UnwritableValuesNameTheirTypeAndPath) {
  Atom* a = heap_.make<Atom>(Tag::Atom);
  Value atom = val(a);
  EXPECT_EQ(Write(atom), "ERROR cannot write a value of type atom as JSON");
  Value v = Map({K("users"), Vec({I(0), Map({K("f"), atom})})});
  EXPECT_EQ(Write(v), "ERROR cannot write a value of type atom as JSON (at [:users 1 :f])");
  uint8_t raw[] = {1, 2};
  Value bytes = val(heap_.make_bytes(raw, 2));
  EXPECT_EQ(Write(Vec({bytes})), "ERROR cannot write a value of type bytes as JSON (at [0])");
  EXPECT_EQ(Write(Map({S("\xFF"), I(1)})),
            "ERROR cannot write a string that is not valid UTF-8 as JSON (at [\"\xFF\"])");
}

// ---- round trips --------------------------------------------------------------------

TEST_F(JsonTest, RoundTrips) {
  const char* docs[] = {
      "null",
      "[1,-2,3.25,1e+300,-0.0,\"x\",true,false,null]",
      R"({"a":{"b":{"c":[[],[{}]]}},"s":"\u0000\"\\\n\u001f\ud83d\ude00é"})",
      "[9223372036854775807,-9223372036854775808,9.223372036854776e+18]",
      R"({"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9})",
  };
  for (const char* doc : docs) {
    for (bool pretty : {false, true}) {
      Value a = ParseValue(doc);
      std::string text = Write(a, pretty);
      Value b = ParseValue(text);
      EXPECT_TRUE(equal(a, b)) << doc << " -> " << text;
      EXPECT_EQ(Write(b, pretty), text);
    }
  }
  // The compact form of an array-map document is the document itself.
  EXPECT_EQ(Write(ParseValue(docs[1])), docs[1]);
}

// ---- natives ------------------------------------------------------------------------

class JsonNativesTest : public BareIsolateTest {};

TEST_P(JsonNativesTest, Parse) {
  EXPECT_EQ(eval(R"((json/parse "{\"a\": [1, 2.5, null]}"))"), "{:a [1 2.5 nil]}");
  EXPECT_EQ(eval(R"((json/parse "{\"a\": 1}" {:keywordize false}))"), "{\"a\" 1}");
  EXPECT_EQ(eval(R"((json/parse "{\"a\": 1}" {:keywordize true}))"), "{:a 1}");
  EXPECT_EQ(eval(R"((json/parse "{\"a\": 1}" nil))"), "{:a 1}");
  EXPECT_NE(eval(R"((json/parse "[[1]]" {:max-depth 1}))").find("nested deeper than 1 levels"),
            std::string::npos);
  EXPECT_NE(eval("(json/parse 1)").find("json/parse: expected a string or bytes, got int"),
            std::string::npos);
  EXPECT_NE(eval("(json/parse \"1\" 2)").find("type-error"), std::string::npos);
}

TEST_P(JsonNativesTest, ParseErrorsCarryTheirPosition) {
  std::string r =
      eval(R"((try (json/parse "{\n \"a\": 1,\n}") (catch e [(error-message e) (error-data e)])))");
  EXPECT_EQ(r,
            "[\"json/parse: trailing comma before '}' at 2:8\" "
            "{:line 2, :column 8, :offset 9, :type :json-error}]");
}

TEST_P(JsonNativesTest, Write) {
  EXPECT_EQ(eval("(json/write {:a [1 2.0 nil true] \"b\" '(:x)})"),
            R"("{\"a\":[1,2.0,null,true],\"b\":[\"x\"]}")");
  EXPECT_EQ(eval("(json/write [1] {:pretty true})"), R"("[\n  1\n]")");
  EXPECT_EQ(eval("(json/write \"</\" {:escape-slash true})"), R"("\"<\\/\"")");
  std::string r =
      eval("(try (json/write {:f (atom 1)}) (catch e [(error-message e) (error-data e)]))");
  EXPECT_EQ(r,
            "[\"json/write: cannot write a value of type atom as JSON (at [:f])\" "
            "{:type :json-error}]");
  EXPECT_EQ(eval("(json/parse (json/write {:a [1 -2.5 \"é\" {:b nil}]}))"),
            "{:a [1 -2.5 \"é\" {:b nil}]}");
}

INSTANTIATE_TEST_SUITE_P(Gc, JsonNativesTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Stress" : "Normal"; });

}  // namespace
}  // namespace valk::lisp
