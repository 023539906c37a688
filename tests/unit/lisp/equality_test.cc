#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lisp/collections.h"
#include "lisp/heap.h"
#include "lisp/value.h"

namespace valk::lisp {
namespace {

Value I(int64_t i) {
  return Value::integer(i);
}

// equal must be an equivalence consistent with hash.
void ExpectEqual(Value a, Value b) {
  EXPECT_TRUE(equal(a, b));
  EXPECT_TRUE(equal(b, a));
  EXPECT_EQ(hash(a), hash(b));
}

void ExpectNotEqual(Value a, Value b) {
  EXPECT_FALSE(equal(a, b));
  EXPECT_FALSE(equal(b, a));
}

TEST(Equality, Scalars) {
  Heap heap;
  ExpectEqual(Value::nil(), Value::nil());
  ExpectEqual(I(1), I(1));
  ExpectNotEqual(I(1), I(2));
  ExpectNotEqual(I(1), Value::number(1.0));  // as in Clojure
  ExpectEqual(Value::number(0.5), Value::number(0.5));
  ExpectEqual(Value::number(0.0), Value::number(-0.0));
  ExpectNotEqual(Value::nil(), Value::boolean(false));
  ExpectEqual(Value::boolean(true), Value::boolean(true));
  ExpectNotEqual(Value::boolean(true), Value::boolean(false));
  ExpectNotEqual(I(0), Value::nil());
  EXPECT_NE(hash(Value::boolean(true)), hash(Value::boolean(false)));
  // Negative ints must not fold onto positive ones in the 32-bit trie hash.
  for (int64_t i = 0; i < 1000; i++) {
    ASSERT_NE(hash(I(-1 - i)) ^ (hash(I(-1 - i)) >> 32), hash(I(i)) ^ (hash(I(i)) >> 32));
  }
  // NaN equals nothing, itself included (IEEE 754, Clojure's =), even
  // bitwise-identical; its hash is still stable.
  Value nan = Value::number(std::nan(""));
  EXPECT_FALSE(equal(nan, nan));
  EXPECT_EQ(hash(nan), hash(Value::number(std::nan(""))));
}

TEST(Equality, StringsByContent) {
  Heap heap;
  ExpectEqual(heap.string("abc"), heap.string("abc"));
  ExpectNotEqual(heap.string("abc"), heap.string("abd"));
  ExpectNotEqual(heap.string("abc"), heap.string("ab"));
  ExpectEqual(heap.string(""), heap.string(""));
  // Strings, symbols and keywords with the same name are all different.
  ExpectNotEqual(heap.string("a"), heap.symbol("a"));
  ExpectNotEqual(heap.symbol("a"), heap.keyword("a"));
  ExpectEqual(heap.keyword("a"), heap.keyword("a"));
  EXPECT_NE(hash(heap.symbol("a")), hash(heap.keyword("a")));
  // Hash caching: a cached hash never makes different strings equal.
  Value a = heap.string("hello");
  Value b = heap.string("hellp");
  hash(a);
  hash(b);
  ExpectNotEqual(a, b);
}

TEST(Equality, ListsAndVectorsWithEqualElementsAreEqual) {
  Heap heap;
  Value items[] = {I(1), heap.string("x"), heap.keyword("k")};
  Value list = heap.list(items, 3);
  Value vec = vector_from(heap, items, 3);
  ExpectEqual(list, vec);
  ExpectEqual(list, heap.list(items, 3));
  ExpectEqual(vec, vector_from(heap, items, 3));
  ExpectNotEqual(list, heap.list(items, 2));
  ExpectNotEqual(vec, vector_from(heap, items, 2));
  ExpectEqual(Value::empty_list(), vector_from(heap, nullptr, 0));
  ExpectNotEqual(Value::empty_list(), Value::nil());
  // Large vectors compare across chunk boundaries.
  std::vector<Value> big;
  for (int i = 0; i < 3000; i++) {
    big.push_back(I(i));
  }
  Value v1 = vector_from(heap, big.data(), big.size());
  Value v2 = vector_from(heap, nullptr, 0);
  for (Value e : big) {
    v2 = vector_conj(heap, v2, e);
  }
  ExpectEqual(v1, v2);
  ExpectEqual(v1, heap.list(big.data(), big.size()));
  ExpectNotEqual(v1, vector_assoc(heap, v2, 2999, I(0)));
}

TEST(Equality, MapsAndSetsIgnoreOrder) {
  Heap heap;
  Value ab[] = {heap.keyword("a"), I(1), heap.keyword("b"), I(2)};
  Value ba[] = {heap.keyword("b"), I(2), heap.keyword("a"), I(1)};
  ExpectEqual(map_from(heap, ab, 2), map_from(heap, ba, 2));
  Value ab3[] = {heap.keyword("a"), I(1), heap.keyword("b"), I(3)};
  ExpectNotEqual(map_from(heap, ab, 2), map_from(heap, ab3, 2));
  ExpectNotEqual(map_from(heap, ab, 2), map_from(heap, ab, 1));
  // An array map and a trie with the same entries.
  Value small = map_from(heap, nullptr, 0);
  Value big = map_from(heap, nullptr, 0);
  for (int i = 0; i < 20; i++) {
    big = map_assoc(heap, big, I(i), I(i));
  }
  for (int i = 0; i < 12; i++) {
    big = map_dissoc(heap, big, I(i + 8));
  }
  for (int i = 7; i >= 0; i--) {
    small = map_assoc(heap, small, I(i), I(i));
  }
  ExpectEqual(small, big);
  Value s1[] = {I(1), I(2), I(3)};
  Value s2[] = {I(3), I(1), I(2)};
  ExpectEqual(set_from(heap, s1, 3), set_from(heap, s2, 3));
  ExpectNotEqual(set_from(heap, s1, 3), set_from(heap, s1, 2));
  // A set and a map or vector are never equal.
  ExpectNotEqual(set_from(heap, s1, 3), vector_from(heap, s1, 3));
  ExpectNotEqual(map_from(heap, nullptr, 0), set_from(heap, nullptr, 0));
}

TEST(Equality, NestedCollections) {
  Heap heap;
  auto make = [&](int64_t leaf) {
    Value inner[] = {I(1), vector_from(heap, nullptr, 0), heap.string("s")};
    Value kv[] = {heap.keyword("x"), vector_from(heap, inner, 3), heap.keyword("y"),
                  heap.list({I(leaf)})};
    Value m = map_from(heap, kv, 2);
    Value outer[] = {m, set_from(heap, &m, 1)};
    return heap.list(outer, 2);
  };
  ExpectEqual(make(5), make(5));
  ExpectNotEqual(make(5), make(6));
  // Collections as map keys.
  Value m = map_assoc(heap, map_from(heap, nullptr, 0), make(1), I(10));
  Value out;
  ASSERT_TRUE(map_find(m, make(1), &out));
  EXPECT_EQ(out.i, 10);
}

TEST(Equality, DeepNestingDoesNotOverflowTheStack) {
  Heap heap;
  Value a = I(0);
  Value b = I(0);
  for (int i = 0; i < 200000; i++) {
    a = vector_from(heap, &a, 1);
    b = heap.list({b});
  }
  ExpectEqual(a, b);
  Value c = I(1);
  for (int i = 0; i < 200000; i++) {
    c = vector_from(heap, &c, 1);
  }
  EXPECT_FALSE(equal(a, c));
}

TEST(Equality, OtherObjectsByIdentity) {
  Heap heap;
  Bytes* b1 = heap.make_bytes(reinterpret_cast<const uint8_t*>("ab"), 2);
  Bytes* b2 = heap.make_bytes(reinterpret_cast<const uint8_t*>("ab"), 2);
  ExpectEqual(val(b1), val(b1));
  EXPECT_FALSE(equal(val(b1), val(b2)));
}

TEST(Equality, TypeNames) {
  Heap heap;
  EXPECT_EQ(type_name(Value::nil()), "nil");
  EXPECT_EQ(type_name(I(1)), "int");
  EXPECT_EQ(type_name(Value::number(1)), "double");
  EXPECT_EQ(type_name(heap.string("")), "string");
  EXPECT_EQ(type_name(Value::empty_list()), "list");
  EXPECT_EQ(type_name(vector_from(heap, nullptr, 0)), "vector");
  EXPECT_EQ(type_name(map_from(heap, nullptr, 0)), "map");
  EXPECT_EQ(type_name(set_from(heap, nullptr, 0)), "set");
  EXPECT_EQ(type_name(heap.keyword("k")), "keyword");
}

}  // namespace
}  // namespace valk::lisp
