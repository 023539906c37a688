#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "lisp/collections.h"
#include "lisp/heap.h"

namespace valk::lisp {
namespace {

Value I(int64_t i) {
  return Value::integer(i);
}

// Checks every element of `v` against `expect` through nth, chunks and each.
void ExpectElements(Value v, const std::vector<int64_t>& expect) {
  ASSERT_EQ(vector_count(v), expect.size());
  for (size_t i = 0; i < expect.size(); i++) {
    ASSERT_EQ(vector_nth(v, i).i, expect[i]) << "index " << i;
  }
  size_t i = 0;
  vector_each(v, [&](Value e) {
    EXPECT_EQ(e.i, expect[i]);
    i++;
    return true;
  });
  EXPECT_EQ(i, expect.size());
}

TEST(Vector, EmptyVector) {
  Heap heap;
  Value v = vector_from(heap, nullptr, 0);
  EXPECT_TRUE(v.is(Tag::Vector));
  EXPECT_EQ(vector_count(v), 0u);
  int calls = 0;
  vector_each(v, [&](Value) {
    calls++;
    return true;
  });
  EXPECT_EQ(calls, 0);
}

// Growth through each boundary of the trie: the tail (32), one level of
// branches (1024 + 32), two levels (32768 + 32) and into a third.
TEST(Vector, ConjGrowsPastEveryTrieLevel) {
  Heap heap;
  Value v = vector_from(heap, nullptr, 0);
  std::vector<int64_t> expect;
  const size_t checkpoints[] = {1,    31,   32,   33,    64,    65,    1024,
                                1056, 1057, 2000, 32768, 32800, 32801, 33000};
  size_t next = 0;
  for (int64_t i = 0; i < 40000; i++) {
    v = vector_conj(heap, v, I(i * 3));
    expect.push_back(i * 3);
    if (next < std::size(checkpoints) && expect.size() == checkpoints[next]) {
      ExpectElements(v, expect);
      next++;
    }
  }
  ExpectElements(v, expect);
}

TEST(Vector, FromMatchesRepeatedConj) {
  Heap heap;
  for (size_t n : {0u, 1u, 32u, 33u, 1024u, 1056u, 1057u, 33000u, 40000u}) {
    std::vector<Value> items;
    std::vector<int64_t> expect;
    for (size_t i = 0; i < n; i++) {
      items.push_back(I(static_cast<int64_t>(i)));
      expect.push_back(static_cast<int64_t>(i));
    }
    Value v = vector_from(heap, items.data(), n);
    ExpectElements(v, expect);
    // Appending to a built vector must follow the same trie shape.
    v = vector_conj(heap, v, I(-1));
    expect.push_back(-1);
    ExpectElements(v, expect);
  }
}

TEST(Vector, AssocLeavesOldVersionsUnchanged) {
  Heap heap;
  std::vector<Value> items;
  for (int64_t i = 0; i < 2000; i++) {
    items.push_back(I(i));
  }
  Value v1 = vector_from(heap, items.data(), items.size());
  Value v2 = vector_assoc(heap, v1, 5, I(-5));        // in the trie
  Value v3 = vector_assoc(heap, v2, 1999, I(-1999));  // in the tail
  Value v4 = vector_assoc(heap, v3, 2000, I(2000));   // i == count appends
  EXPECT_EQ(vector_nth(v1, 5).i, 5);
  EXPECT_EQ(vector_nth(v2, 5).i, -5);
  EXPECT_EQ(vector_nth(v2, 1999).i, 1999);
  EXPECT_EQ(vector_nth(v3, 1999).i, -1999);
  EXPECT_EQ(vector_nth(v3, 5).i, -5);
  EXPECT_EQ(vector_count(v3), 2000u);
  EXPECT_EQ(vector_count(v4), 2001u);
  EXPECT_EQ(vector_nth(v4, 2000).i, 2000);
  for (int64_t i = 0; i < 2000; i++) {
    ASSERT_EQ(vector_nth(v1, i).i, i);
  }
}

TEST(Vector, PopShrinksThroughEveryLevel) {
  Heap heap;
  std::vector<Value> items;
  std::vector<int64_t> expect;
  for (int64_t i = 0; i < 33000; i++) {
    items.push_back(I(i));
    expect.push_back(i);
  }
  Value v = vector_from(heap, items.data(), items.size());
  Value full = v;
  while (vector_count(v) > 0) {
    v = vector_pop(heap, v);
    expect.pop_back();
    size_t n = expect.size();
    if (n % 997 == 0 || n == 32768 || n == 32767 || n == 1024 || n == 1023 || n == 33 || n == 32 ||
        n == 31 || n < 3) {
      ExpectElements(v, expect);
    }
  }
  EXPECT_EQ(vector_count(v), 0u);
  // Popping down to 32767 and appending again rebuilds the same contents.
  v = full;
  for (int i = 0; i < 300; i++) {
    v = vector_pop(heap, v);
  }
  for (int64_t i = 32700; i < 33000; i++) {
    v = vector_conj(heap, v, I(i));
  }
  for (size_t i = 0; i < 33000; i++) {
    ASSERT_EQ(vector_nth(v, i).i, static_cast<int64_t>(i));
  }
  EXPECT_EQ(vector_count(full), 33000u);
}

TEST(Vector, EachStopsEarly) {
  Heap heap;
  std::vector<Value> items(100, I(7));
  Value v = vector_from(heap, items.data(), items.size());
  int calls = 0;
  vector_each(v, [&](Value) { return ++calls < 40; });
  EXPECT_EQ(calls, 40);
}

TEST(Vector, ChunksCoverTheVector) {
  Heap heap;
  std::vector<Value> items;
  for (int64_t i = 0; i < 1100; i++) {
    items.push_back(I(i));
  }
  Value v = vector_from(heap, items.data(), items.size());
  size_t i = 5;
  while (i < 1100) {
    size_t len;
    const Value* p = vector_chunk(v, i, &len);
    ASSERT_GE(len, 1u);
    for (size_t j = 0; j < len; j++) {
      ASSERT_EQ(p[j].i, static_cast<int64_t>(i + j));
    }
    i += len;
  }
  EXPECT_EQ(i, 1100u);
}

TEST(Vector, SurvivesCollectionWhenRooted) {
  Heap heap;
  Value v = vector_from(heap, nullptr, 0);
  for (int64_t i = 0; i < 5000; i++) {
    v = vector_conj(heap, v, heap.string(std::to_string(i)));
  }
  Value old = vector_assoc(heap, v, 10, heap.string("ten"));
  heap.set_root_marker([&](Tracer& t) {
    t.mark(v);
    t.mark(old);
  });
  size_t before = heap.stats().objects_live;
  heap.collect();
  EXPECT_LT(heap.stats().objects_live, before);
  for (int64_t i = 0; i < 5000; i++) {
    Value e = vector_nth(v, i);
    ASSERT_TRUE(e.is(Tag::String));
    ASSERT_EQ(static_cast<String*>(e.o)->view(), std::to_string(i));
  }
  EXPECT_EQ(static_cast<String*>(vector_nth(old, 10).o)->view(), "ten");
  // Only the rooted vectors stay: once unrooted, everything goes.
  heap.set_root_marker([](Tracer&) {});
  heap.collect();
  EXPECT_EQ(heap.stats().objects_live, 0u);
}

TEST(Vector, RandomOperationsMatchStdVector) {
  Heap heap;
  std::mt19937 rng(42);
  Value v = vector_from(heap, nullptr, 0);
  std::vector<int64_t> model;
  for (int step = 0; step < 60000; step++) {
    int op = rng() % 10;
    if (op < 6 || model.empty()) {
      v = vector_conj(heap, v, I(step));
      model.push_back(step);
    } else if (op < 8) {
      size_t i = rng() % model.size();
      v = vector_assoc(heap, v, i, I(-step));
      model[i] = -step;
    } else {
      v = vector_pop(heap, v);
      model.pop_back();
    }
    if (step % 5000 == 0) {
      ExpectElements(v, model);
    }
  }
  ExpectElements(v, model);
}

}  // namespace
}  // namespace valk::lisp
