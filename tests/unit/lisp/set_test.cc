#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "lisp/collections.h"
#include "lisp/collections_internal.h"
#include "lisp/heap.h"

namespace valk::lisp {
namespace {

Value I(int64_t i) {
  return Value::integer(i);
}

std::vector<int64_t> Elements(Value s) {
  std::vector<int64_t> out;
  set_each(s, [&](Value e) {
    out.push_back(e.i);
    return true;
  });
  return out;
}

TEST(Set, FromDropsDuplicatesAndKeepsOrder) {
  Heap heap;
  Value items[] = {I(3), I(1), I(3), I(2), I(1)};
  Value s = set_from(heap, items, 5);
  EXPECT_TRUE(s.is(Tag::Set));
  EXPECT_EQ(set_count(s), 3u);
  EXPECT_EQ(Elements(s), (std::vector<int64_t>{3, 1, 2}));
}

TEST(Set, BulkBuildKeepsFirstElements) {
  Heap heap;
  std::vector<Value> items;
  for (int i = 0; i < 3000; i++) {
    items.push_back(heap.string(std::to_string(i % 1000)));
  }
  Value s = set_from(heap, items.data(), items.size());
  EXPECT_EQ(set_count(s), 1000u);
  for (int i = 0; i < 1000; i++) {
    Value out;
    ASSERT_TRUE(set_find(s, heap.string(std::to_string(i)), &out));
    EXPECT_TRUE(identical(out, items[i]));
  }
}

TEST(Set, ConjAndDisj) {
  Heap heap;
  Value s = set_from(heap, nullptr, 0);
  s = set_conj(heap, s, I(1));
  Value same = set_conj(heap, s, I(1));
  EXPECT_TRUE(identical(s, same));
  s = set_conj(heap, s, I(2));
  EXPECT_TRUE(set_contains(s, I(1)));
  EXPECT_FALSE(set_contains(s, I(3)));
  Value fewer = set_disj(heap, s, I(1));
  EXPECT_FALSE(set_contains(fewer, I(1)));
  EXPECT_TRUE(set_contains(s, I(1)));
  EXPECT_TRUE(identical(set_disj(heap, s, I(42)), s));
}

TEST(Set, KeepsTheElementAlreadyPresent) {
  Heap heap;
  Value first = heap.string("x");
  Value s = set_from(heap, &first, 1);
  s = set_conj(heap, s, heap.string("x"));
  Value out;
  ASSERT_TRUE(set_find(s, heap.string("x"), &out));
  EXPECT_TRUE(identical(out, first));
}

TEST(Set, PromotesPastEightAndShrinksToEmpty) {
  Heap heap;
  Value s = set_from(heap, nullptr, 0);
  for (int i = 0; i < 8; i++) {
    s = set_conj(heap, s, I(i));
  }
  EXPECT_TRUE(map_is_array(s));
  EXPECT_EQ(Elements(s), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  for (int i = 8; i < 10000; i++) {
    s = set_conj(heap, s, I(i));
  }
  EXPECT_FALSE(map_is_array(s));
  EXPECT_TRUE(s.is(Tag::Set));
  EXPECT_EQ(set_count(s), 10000u);
  for (int i = 0; i < 10000; i++) {
    ASSERT_TRUE(set_contains(s, I(i)));
    s = set_disj(heap, s, I(i));
    ASSERT_FALSE(set_contains(s, I(i)));
  }
  EXPECT_EQ(set_count(s), 0u);
  EXPECT_TRUE(s.is(Tag::Set));
}

TEST(Set, RandomOperationsMatchStdSet) {
  Heap heap;
  std::mt19937 rng(99);
  std::set<int64_t> model;
  Value s = set_from(heap, nullptr, 0);
  for (int step = 0; step < 50000; step++) {
    int64_t k = rng() % 2000;
    if (rng() % 2) {
      s = set_disj(heap, s, I(k));
      model.erase(k);
    } else {
      s = set_conj(heap, s, I(k));
      model.insert(k);
    }
    ASSERT_EQ(set_count(s), model.size());
  }
  std::vector<int64_t> got = Elements(s);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, std::vector<int64_t>(model.begin(), model.end()));
}

TEST(Set, SurvivesCollectionWhenRooted) {
  Heap heap;
  Value s = set_from(heap, nullptr, 0);
  for (int i = 0; i < 3000; i++) {
    s = set_conj(heap, s, heap.string(std::to_string(i)));
  }
  heap.set_root_marker([&](Tracer& t) { t.mark(s); });
  heap.collect();
  for (int i = 0; i < 3000; i++) {
    ASSERT_TRUE(set_contains(s, heap.string(std::to_string(i))));
  }
}

}  // namespace
}  // namespace valk::lisp
