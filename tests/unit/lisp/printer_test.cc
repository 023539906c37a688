#include "lisp/printer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "lisp/collections.h"
#include "lisp/heap.h"

namespace valk::lisp {
namespace {

Value I(int64_t i) {
  return Value::integer(i);
}

std::string Pr(Value v) {
  return print_str(v, true);
}

TEST(Printer, Scalars) {
  Heap heap;
  EXPECT_EQ(Pr(Value::nil()), "nil");
  EXPECT_EQ(Pr(Value::boolean(true)), "true");
  EXPECT_EQ(Pr(Value::boolean(false)), "false");
  EXPECT_EQ(Pr(I(-42)), "-42");
  EXPECT_EQ(Pr(I(std::numeric_limits<int64_t>::min())), "-9223372036854775808");
  EXPECT_EQ(Pr(heap.symbol("foo")), "foo");
  EXPECT_EQ(Pr(heap.keyword("bar")), ":bar");
}

TEST(Printer, Doubles) {
  EXPECT_EQ(Pr(Value::number(1.0)), "1.0");
  EXPECT_EQ(Pr(Value::number(0.1)), "0.1");
  EXPECT_EQ(Pr(Value::number(-2.5)), "-2.5");
  EXPECT_EQ(Pr(Value::number(100.0)), "100.0");
  EXPECT_EQ(Pr(Value::number(1e300)), "1.0E300");
  EXPECT_EQ(Pr(Value::number(1.5e-7)), "1.5E-7");
  EXPECT_EQ(Pr(Value::number(-0.0)), "-0.0");
  EXPECT_EQ(Pr(Value::number(INFINITY)), "##Inf");
  EXPECT_EQ(Pr(Value::number(-INFINITY)), "##-Inf");
  EXPECT_EQ(Pr(Value::number(NAN)), "##NaN");
  // Shortest round trip.
  for (double d : {0.1 + 0.2, 1.0 / 3, 5e-324, 1.7976931348623157e308, 123456789.125}) {
    std::string s = Pr(Value::number(d));
    for (char& c : s) {
      if (c == 'E') {
        c = 'e';
      }
    }
    EXPECT_EQ(std::strtod(s.c_str(), nullptr), d) << s;
  }
}

TEST(Printer, StringsReadablyAndRaw) {
  Heap heap;
  Value s = heap.string("a\"b\\c\nd\te\x01 é");
  EXPECT_EQ(print_str(s, true), "\"a\\\"b\\\\c\\nd\\te\\u0001 é\"");
  EXPECT_EQ(print_str(s, false), "a\"b\\c\nd\te\x01 é");
  Value v = vector_from(heap, &s, 1);
  EXPECT_EQ(print_str(heap.string("x"), false), "x");
  Value x = heap.string("x");
  EXPECT_EQ(print_str(vector_from(heap, &x, 1), false), "[x]");
  EXPECT_EQ(print_str(vector_from(heap, &x, 1), true), "[\"x\"]");
  (void)v;
}

TEST(Printer, ForStr) {
  Heap heap;
  std::string out;
  print_for_str(out, Value::nil());
  print_for_str(out, heap.string("a"));
  Value x = heap.string("x");
  print_for_str(out, vector_from(heap, &x, 1));
  print_for_str(out, I(3));
  EXPECT_EQ(out, "a[\"x\"]3");
}

TEST(Printer, Collections) {
  Heap heap;
  EXPECT_EQ(Pr(Value::empty_list()), "()");
  EXPECT_EQ(Pr(heap.list({I(1), I(2)})), "(1 2)");
  Value items[] = {I(1), heap.list({I(2), I(3)}), vector_from(heap, nullptr, 0)};
  EXPECT_EQ(Pr(vector_from(heap, items, 3)), "[1 (2 3) []]");
  Value kv[] = {heap.keyword("a"), I(1), heap.keyword("b"), I(2)};
  EXPECT_EQ(Pr(map_from(heap, kv, 2)), "{:a 1, :b 2}");
  EXPECT_EQ(Pr(map_from(heap, nullptr, 0)), "{}");
  Value elems[] = {I(1), I(2)};
  EXPECT_EQ(Pr(set_from(heap, elems, 2)), "#{1 2}");
  EXPECT_EQ(Pr(set_from(heap, nullptr, 0)), "#{}");
  Value nested_kv[] = {heap.string("k"), map_from(heap, kv, 2)};
  EXPECT_EQ(Pr(map_from(heap, nested_kv, 1)), "{\"k\" {:a 1, :b 2}}");
}

TEST(Printer, LargeCollections) {
  Heap heap;
  Value m = map_from(heap, nullptr, 0);
  for (int i = 0; i < 100; i++) {
    m = map_assoc(heap, m, I(i), I(i));
  }
  std::string s = Pr(m);
  EXPECT_EQ(s.front(), '{');
  EXPECT_EQ(s.back(), '}');
  size_t commas = 0;
  for (char c : s) {
    commas += c == ',';
  }
  EXPECT_EQ(commas, 99u);
}

TEST(Printer, OtherObjects) {
  Heap heap;
  Bytes* b = heap.make_bytes(reinterpret_cast<const uint8_t*>("abc"), 3);
  EXPECT_EQ(Pr(val(b)), "#bytes[3]");
  Atom* a = heap.make<Atom>(Tag::Atom);
  a->value = I(1);
  EXPECT_EQ(Pr(val(a)), "#<atom 1>");
  // An atom that contains itself does not loop.
  a->value = val(a);
  EXPECT_EQ(Pr(val(a)), "#<atom #<atom #<atom #<atom #<atom ...>>>>>");
  Native* n = heap.make<Native>(Tag::Native);
  n->name = heap.make_string("count");
  EXPECT_EQ(Pr(val(n)), "#<native count>");
}

TEST(Printer, DeepNestingDoesNotOverflowTheStack) {
  Heap heap;
  Value v = I(0);
  const int depth = 300000;
  for (int i = 0; i < depth; i++) {
    v = (i % 2) ? vector_from(heap, &v, 1) : heap.list({v});
  }
  std::string s = Pr(v);
  EXPECT_EQ(s.size(), 2u * depth + 1);
}

}  // namespace
}  // namespace valk::lisp
