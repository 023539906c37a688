#include <gtest/gtest.h>

#include <map>
#include <random>
#include <unordered_map>
#include <vector>

#include "lisp/collections.h"
#include "lisp/collections_internal.h"
#include "lisp/heap.h"

namespace valk::lisp {
namespace {

Value I(int64_t i) {
  return Value::integer(i);
}

Value Empty(Heap& heap) {
  return map_from(heap, nullptr, 0);
}

std::vector<Value> Keys(Value m) {
  std::vector<Value> keys;
  map_each(m, [&](Value k, Value) {
    keys.push_back(k);
    return true;
  });
  return keys;
}

// Finds `n` pairs of distinct ints whose trie hashes collide, by brute
// force over deterministic random 64-bit ints (a birthday search).
std::vector<std::pair<int64_t, int64_t>> CollidingInts(size_t n) {
  std::mt19937_64 rng(5);
  std::unordered_map<uint32_t, int64_t> seen;
  std::vector<std::pair<int64_t, int64_t>> pairs;
  while (pairs.size() < n) {
    int64_t i = static_cast<int64_t>(rng());
    auto [it, fresh] = seen.emplace(hash32(I(i)), i);
    if (!fresh && it->second != i) {
      pairs.emplace_back(it->second, i);
      seen.erase(it);
    }
  }
  return pairs;
}

TEST(Map, SmallMapsKeepInsertionOrder) {
  Heap heap;
  Value m = Empty(heap);
  Value ks[8];
  for (int i = 0; i < 8; i++) {
    ks[i] = heap.keyword(std::string(1, static_cast<char>('h' - i)));
    m = map_assoc(heap, m, ks[i], I(i));
  }
  EXPECT_TRUE(map_is_array(m));
  EXPECT_EQ(map_count(m), 8u);
  std::vector<Value> keys = Keys(m);
  for (int i = 0; i < 8; i++) {
    EXPECT_TRUE(identical(keys[i], ks[i]));
  }
  // Replacing a value keeps the position.
  m = map_assoc(heap, m, ks[3], I(33));
  EXPECT_TRUE(identical(Keys(m)[3], ks[3]));
  Value out;
  ASSERT_TRUE(map_find(m, ks[3], &out));
  EXPECT_EQ(out.i, 33);
}

TEST(Map, PromotesToTrieAfterEightEntries) {
  Heap heap;
  Value m = Empty(heap);
  for (int i = 0; i < 8; i++) {
    m = map_assoc(heap, m, I(i), I(i * 10));
  }
  Value small = m;
  m = map_assoc(heap, m, I(8), I(80));
  EXPECT_TRUE(map_is_array(small));
  EXPECT_FALSE(map_is_array(m));
  EXPECT_EQ(map_count(m), 9u);
  EXPECT_EQ(map_count(small), 8u);
  for (int i = 0; i < 9; i++) {
    Value out;
    ASSERT_TRUE(map_find(m, I(i), &out));
    EXPECT_EQ(out.i, i * 10);
  }
  Value out;
  EXPECT_FALSE(map_find(small, I(8), &out));
}

TEST(Map, FromLaterKeysWin) {
  Heap heap;
  Value kvs[] = {I(1), I(10), I(2), I(20), I(1), I(11)};
  Value m = map_from(heap, kvs, 3);
  EXPECT_EQ(map_count(m), 2u);
  Value out;
  ASSERT_TRUE(map_find(m, I(1), &out));
  EXPECT_EQ(out.i, 11);
}

// map_from builds large maps in one pass; the result must match repeated
// assoc: same entries, later values win, the first key object stays.
TEST(Map, BulkBuildMatchesRepeatedAssoc) {
  Heap heap;
  std::mt19937 rng(3);
  auto pairs = CollidingInts(5);
  for (size_t n : {9u, 16u, 17u, 40u, 1000u, 20000u}) {
    std::vector<Value> kvs;
    for (size_t i = 0; i < n; i++) {
      int64_t k = rng() % (n / 2 + 1);  // plenty of duplicates
      kvs.push_back(I(k));
      kvs.push_back(I(static_cast<int64_t>(i)));
    }
    for (auto [a, b] : pairs) {
      kvs.insert(kvs.end(), {I(a), I(1), I(b), I(2), I(a), I(3)});
    }
    kvs.push_back(heap.string("s"));
    kvs.push_back(I(1));
    Value first_s = kvs[kvs.size() - 2];
    kvs.push_back(heap.string("s"));
    kvs.push_back(I(2));
    size_t pairs_n = kvs.size() / 2;
    Value bulk = map_from(heap, kvs.data(), pairs_n);
    Value slow = Empty(heap);
    for (size_t i = 0; i < pairs_n; i++) {
      slow = map_assoc(heap, slow, kvs[2 * i], kvs[2 * i + 1]);
    }
    ASSERT_EQ(map_count(bulk), map_count(slow)) << n;
    ASSERT_TRUE(equal(bulk, slow)) << n;
    map_each(slow, [&](Value k, Value v) {
      Value out;
      EXPECT_TRUE(map_find(bulk, k, &out));
      EXPECT_TRUE(identical(out, v));
      return true;
    });
    // The bulk-built trie is a normal persistent map afterwards.
    Value more = map_assoc(heap, bulk, I(-7), I(7));
    EXPECT_EQ(map_count(more), map_count(bulk) + 1);
    for (auto [a, b] : pairs) {
      Value out;
      ASSERT_TRUE(map_find(bulk, I(a), &out));
      EXPECT_EQ(out.i, 3);
      more = map_dissoc(heap, more, I(a));
      EXPECT_FALSE(map_find(more, I(a), &out));
      EXPECT_TRUE(map_find(more, I(b), &out));
    }
    bool saw_first = false;
    map_each(bulk, [&](Value k, Value) {
      saw_first = saw_first || identical(k, first_s);
      return true;
    });
    EXPECT_TRUE(saw_first);
  }
}

// Nine to fifteen pairs (request maps) take the bulk path too, with their
// entries on the stack; a duplicate that leaves eight keys gives an array
// map in first-insertion order, as repeated assoc would.
TEST(Map, SmallBulkBuildsMatchRepeatedAssoc) {
  Heap heap;
  for (int64_t n = 9; n <= 15; n++) {
    for (bool dup : {false, true}) {
      std::vector<Value> kvs;
      for (int64_t i = 0; i < n; i++) {
        kvs.push_back(i % 2 == 0 ? heap.keyword("k" + std::to_string(i)) : I(i * 7919));
        kvs.push_back(I(i));
      }
      if (dup) {
        // Every key past the eighth repeats an earlier one.
        for (int64_t i = 8; i < n; i++) {
          kvs[2 * i] = kvs[2 * (i - 8)];
        }
      }
      Value bulk = map_from(heap, kvs.data(), kvs.size() / 2);
      Value slow = Empty(heap);
      for (size_t i = 0; i < kvs.size() / 2; i++) {
        slow = map_assoc(heap, slow, kvs[2 * i], kvs[2 * i + 1]);
      }
      ASSERT_EQ(map_count(bulk), map_count(slow)) << n;
      EXPECT_EQ(map_is_array(bulk), map_is_array(slow)) << n;
      EXPECT_TRUE(equal(bulk, slow)) << n;
      std::vector<Value> a = Keys(bulk), b = Keys(slow);
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); i++) {
        EXPECT_TRUE(identical(a[i], b[i])) << n << " " << i;
      }
    }
  }
}

TEST(Map, BulkBuildWithFewDistinctKeysIsAnArrayMapInOrder) {
  Heap heap;
  std::vector<Value> kvs;
  for (int rep = 0; rep < 5; rep++) {
    for (int k = 5; k >= 0; k--) {
      kvs.push_back(I(k));
      kvs.push_back(I(rep));
    }
  }
  Value m = map_from(heap, kvs.data(), kvs.size() / 2);
  EXPECT_TRUE(map_is_array(m));
  std::vector<Value> keys = Keys(m);
  ASSERT_EQ(keys.size(), 6u);
  for (int i = 0; i < 6; i++) {
    EXPECT_EQ(keys[i].i, 5 - i);
  }
  Value out;
  ASSERT_TRUE(map_find(m, I(3), &out));
  EXPECT_EQ(out.i, 4);
}

TEST(Map, StringKeysCompareByContent) {
  Heap heap;
  Value m = map_assoc(heap, Empty(heap), heap.string("key"), I(1));
  Value out;
  ASSERT_TRUE(map_find(m, heap.string("key"), &out));
  EXPECT_EQ(out.i, 1);
  EXPECT_FALSE(map_find(m, heap.symbol("key"), &out));
  EXPECT_FALSE(map_find(m, heap.keyword("key"), &out));
}

TEST(Map, AssocSameValueReturnsSameMap) {
  Heap heap;
  Value m = Empty(heap);
  for (int i = 0; i < 100; i++) {
    m = map_assoc(heap, m, I(i), I(i));
  }
  Value again = map_assoc(heap, m, I(50), I(50));
  EXPECT_TRUE(identical(m, again));
  EXPECT_TRUE(identical(map_dissoc(heap, m, I(1000)), m));
}

TEST(Map, StructuralSharingKeepsOldVersions) {
  Heap heap;
  std::vector<Value> versions;
  Value m = Empty(heap);
  for (int i = 0; i < 3000; i++) {
    m = map_assoc(heap, m, I(i), I(i));
    if (i % 100 == 0) {
      versions.push_back(m);
    }
  }
  Value changed = map_assoc(heap, m, I(5), I(-5));
  Value removed = map_dissoc(heap, m, I(6));
  for (size_t v = 0; v < versions.size(); v++) {
    int64_t n = static_cast<int64_t>(v * 100 + 1);
    ASSERT_EQ(map_count(versions[v]), static_cast<size_t>(n));
    for (int64_t i = 0; i < n; i += 7) {
      Value out;
      ASSERT_TRUE(map_find(versions[v], I(i), &out));
      ASSERT_EQ(out.i, i);
    }
    Value out;
    ASSERT_FALSE(map_find(versions[v], I(n), &out));
  }
  Value out;
  ASSERT_TRUE(map_find(m, I(5), &out));
  EXPECT_EQ(out.i, 5);
  ASSERT_TRUE(map_find(changed, I(5), &out));
  EXPECT_EQ(out.i, -5);
  EXPECT_TRUE(map_find(m, I(6), &out));
  EXPECT_FALSE(map_find(removed, I(6), &out));
  EXPECT_EQ(map_count(removed), 2999u);
}

TEST(Map, DissocDownToEmpty) {
  Heap heap;
  Value m = Empty(heap);
  const int n = 5000;
  for (int i = 0; i < n; i++) {
    m = map_assoc(heap, m, I(i), I(i));
  }
  std::mt19937 rng(7);
  std::vector<int> order(n);
  for (int i = 0; i < n; i++) {
    order[i] = i;
  }
  std::shuffle(order.begin(), order.end(), rng);
  for (int k = 0; k < n; k++) {
    m = map_dissoc(heap, m, I(order[k]));
    ASSERT_EQ(map_count(m), static_cast<size_t>(n - k - 1));
    if (k % 250 == 0) {
      for (int j = k + 1; j < n; j++) {
        Value out;
        ASSERT_TRUE(map_find(m, I(order[j]), &out)) << order[j];
      }
    }
  }
  EXPECT_EQ(map_count(m), 0u);
  EXPECT_TRUE(Keys(m).empty());
  // An emptied map is still usable.
  m = map_assoc(heap, m, I(1), I(2));
  EXPECT_EQ(map_count(m), 1u);
}

TEST(Map, HashCollisionsAreHandled) {
  Heap heap;
  auto pairs = CollidingInts(20);
  Value m = Empty(heap);
  // Pad past the array-map limit so that the collisions land in the trie.
  for (int i = 0; i < 10; i++) {
    m = map_assoc(heap, m, I(-1 - i), I(0));
  }
  for (auto [a, b] : pairs) {
    ASSERT_EQ(hash32(I(a)), hash32(I(b)));
    m = map_assoc(heap, m, I(a), I(a / 2));
    m = map_assoc(heap, m, I(b), I(b / 2));
  }
  EXPECT_EQ(map_count(m), 10 + 2 * pairs.size());
  for (auto [a, b] : pairs) {
    Value out;
    ASSERT_TRUE(map_find(m, I(a), &out));
    EXPECT_EQ(out.i, a / 2);
    ASSERT_TRUE(map_find(m, I(b), &out));
    EXPECT_EQ(out.i, b / 2);
  }
  // Replace inside a collision node, then remove one side of each pair.
  m = map_assoc(heap, m, I(pairs[0].second), I(7));
  Value out;
  ASSERT_TRUE(map_find(m, I(pairs[0].second), &out));
  EXPECT_EQ(out.i, 7);
  for (auto [a, b] : pairs) {
    m = map_dissoc(heap, m, I(a));
    EXPECT_FALSE(map_find(m, I(a), &out));
    ASSERT_TRUE(map_find(m, I(b), &out));
  }
  EXPECT_EQ(map_count(m), 10 + pairs.size());
  for (auto [a, b] : pairs) {
    m = map_dissoc(heap, m, I(b));
  }
  EXPECT_EQ(map_count(m), 10u);
}

// Several pairs set at once (assoc with more than one pair) give the map
// that setting them one at a time gives, in the same order, whether the
// pairs replace values, add keys, go into child nodes, clash with a key at
// the root, or repeat a key; the map they were set in is unchanged.
TEST(Map, AssocPairsMatchesRepeatedAssoc) {
  Heap heap;
  std::mt19937 rng(11);
  auto colliding = CollidingInts(4);
  for (int round = 0; round < 2000; round++) {
    size_t size = 9 + rng() % (round % 2 == 0 ? 12 : 200);
    Value m = Empty(heap);
    for (size_t i = 0; i < size; i++) {
      m = map_assoc(heap, m, I(static_cast<int64_t>(rng() % (2 * size))), I(1));
    }
    if (round % 5 == 0) {
      m = map_assoc(heap, m, I(colliding[0].first), I(2));
    }
    std::vector<Value> before = Keys(m);
    size_t count_before = map_count(m);
    size_t n = 1 + rng() % 8;
    std::vector<Value> kvs;
    for (size_t i = 0; i < n; i++) {
      int64_t k = static_cast<int64_t>(rng() % (3 * size));
      if (round % 5 == 0 && i == 0) {
        k = colliding[0].second;
      }
      kvs.push_back(rng() % 4 == 0 ? heap.string("k" + std::to_string(k)) : I(k));
      kvs.push_back(I(static_cast<int64_t>(100 + i)));
    }
    Value at_once = map_assoc_pairs(heap, m, kvs.data(), n);
    Value one_by_one = m;
    for (size_t i = 0; i < n; i++) {
      one_by_one = map_assoc(heap, one_by_one, kvs[2 * i], kvs[2 * i + 1]);
    }
    ASSERT_EQ(map_count(at_once), map_count(one_by_one)) << round;
    ASSERT_TRUE(equal(at_once, one_by_one)) << round;
    std::vector<Value> got = Keys(at_once);
    std::vector<Value> want = Keys(one_by_one);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); i++) {
      ASSERT_TRUE(equal(got[i], want[i])) << round << " " << i;  // the same trie shape
    }
    ASSERT_EQ(map_count(m), count_before);
    ASSERT_EQ(Keys(m).size(), before.size());
    // And it is a normal map afterwards: take everything out again.
    for (Value k : want) {
      at_once = map_dissoc(heap, at_once, k);
    }
    ASSERT_EQ(map_count(at_once), 0u) << round;
  }
}

TEST(Map, CollisionNodeMeetsADifferentHash) {
  Heap heap;
  auto pairs = CollidingInts(1);
  auto [a, b] = pairs[0];
  uint32_t h = hash32(I(a));
  // Find a key agreeing with the colliding pair on the first 10 bits, so it
  // reaches the collision node from above and forces it to be nested.
  int64_t c = 0;
  bool found = false;
  for (int64_t i = 1000000; !found; i++) {
    if (i != a && i != b && (hash32(I(i)) & 0x3ff) == (h & 0x3ff) && hash32(I(i)) != h) {
      c = i;
      found = true;
    }
  }
  Value m = Empty(heap);
  for (int i = 0; i < 9; i++) {
    m = map_assoc(heap, m, I(-100 - i), I(0));
  }
  m = map_assoc(heap, m, I(a), I(1));
  m = map_assoc(heap, m, I(b), I(2));
  m = map_assoc(heap, m, I(c), I(3));
  Value out;
  ASSERT_TRUE(map_find(m, I(a), &out));
  EXPECT_EQ(out.i, 1);
  ASSERT_TRUE(map_find(m, I(b), &out));
  EXPECT_EQ(out.i, 2);
  ASSERT_TRUE(map_find(m, I(c), &out));
  EXPECT_EQ(out.i, 3);
  EXPECT_EQ(map_count(m), 12u);
  m = map_dissoc(heap, m, I(c));
  m = map_dissoc(heap, m, I(a));
  ASSERT_TRUE(map_find(m, I(b), &out));
  EXPECT_EQ(map_count(m), 10u);
}

TEST(Map, RandomOperationsMatchStdMap) {
  Heap heap;
  std::mt19937 rng(1234);
  std::map<int64_t, int64_t> model;
  Value m = Empty(heap);
  for (int step = 0; step < 100000; step++) {
    int64_t k = rng() % 3000;
    if (rng() % 3 == 0) {
      m = map_dissoc(heap, m, I(k));
      model.erase(k);
    } else {
      m = map_assoc(heap, m, I(k), I(step));
      model[k] = step;
    }
    ASSERT_EQ(map_count(m), model.size());
    if (step % 10000 == 0) {
      for (int64_t q = 0; q < 3000; q++) {
        Value out;
        auto it = model.find(q);
        ASSERT_EQ(map_find(m, I(q), &out), it != model.end());
        if (it != model.end()) {
          ASSERT_EQ(out.i, it->second);
        }
      }
      size_t seen = 0;
      map_each(m, [&](Value k, Value v) {
        EXPECT_EQ(model.at(k.i), v.i);
        seen++;
        return true;
      });
      ASSERT_EQ(seen, model.size());
    }
  }
}

// A keyword's trie hash is cached in the keyword; the cached value is the
// one computed from scratch, so maps built before and after agree.
TEST(Map, KeywordHashIsCachedUnchanged) {
  Heap heap;
  Value k = heap.keyword("cached");
  uint64_t h = hash(k);
  auto folded = static_cast<uint32_t>(h ^ (h >> 32));
  EXPECT_EQ(hash32(k), folded);
  EXPECT_EQ(hash32(k), folded);
  EXPECT_EQ(hash32(heap.symbol("cached")), hash32(heap.symbol("cached")));
  EXPECT_NE(hash32(heap.symbol("cached")), folded);
}

// A template's maps equal map_from's for the same pairs, whatever the
// layout: an array map, a trie with inner and collision nodes, and a key
// set too large to copy (built by map_from instead). The prototype stays
// as it was.
TEST(MapTemplate, MakesTheMapsMapFromWould) {
  Heap heap;
  auto pairs = CollidingInts(3);
  for (size_t n : {0, 3, 8, 11, 40, 2000}) {
    std::vector<Value> keys;
    for (size_t i = 0; i < n; i++) {
      keys.push_back(i % 2 == 0 ? heap.keyword("k" + std::to_string(i)) : I(7919 * i));
    }
    if (n == 40) {
      for (auto [a, b] : pairs) {
        keys.push_back(I(a));
        keys.push_back(I(b));
      }
    }
    MapTemplate t(heap, keys.data(), keys.size());
    for (int round = 0; round < 2; round++) {
      std::vector<Value> values, kvs;
      for (size_t i = 0; i < keys.size(); i++) {
        values.push_back(I(static_cast<int64_t>(i * 10 + round)));
        kvs.push_back(keys[i]);
        kvs.push_back(values.back());
      }
      Value m = t.make(heap, values.data());
      EXPECT_EQ(map_count(m), keys.size()) << n;
      EXPECT_TRUE(equal(m, map_from(heap, kvs.data(), keys.size()))) << n;
      Value out;
      for (size_t i = 0; i < keys.size(); i++) {
        ASSERT_TRUE(map_find(m, keys[i], &out)) << n << " " << i;
        EXPECT_EQ(out.i, static_cast<int64_t>(i * 10 + round));
        ASSERT_TRUE(map_find(t.proto(), keys[i], &out));
        EXPECT_TRUE(out.is_nil());
      }
      // The copy is a map like any other: it can grow.
      m = map_assoc(heap, m, heap.keyword("extra"), I(1));
      EXPECT_EQ(map_count(m), keys.size() + 1);
    }
  }
}

TEST(Map, SurvivesCollectionWhenRooted) {
  Heap heap;
  Value m = Empty(heap);
  for (int i = 0; i < 20000; i++) {
    m = map_assoc(heap, m, heap.string("k" + std::to_string(i)), heap.list({I(i)}));
  }
  heap.set_root_marker([&](Tracer& t) { t.mark(m); });
  size_t before = heap.stats().objects_live;
  heap.collect();
  EXPECT_LT(heap.stats().objects_live, before);
  for (int i = 0; i < 20000; i++) {
    Value out;
    ASSERT_TRUE(map_find(m, heap.string("k" + std::to_string(i)), &out));
    ASSERT_EQ(static_cast<Cons*>(out.o)->first.i, i);
  }
  heap.set_root_marker([](Tracer&) {});
  heap.collect();
  EXPECT_EQ(heap.stats().objects_live, 0u);
}

TEST(Map, GcStressDuringUpdates) {
  // Collect after every update with only the newest map rooted: each
  // version must hold everything it needs.
  Heap heap;
  Value m = Empty(heap);
  heap.set_root_marker([&](Tracer& t) { t.mark(m); });
  for (int i = 0; i < 600; i++) {
    m = map_assoc(heap, m, heap.string(std::to_string(i)), heap.string("v" + std::to_string(i)));
    if (i % 3 == 0) {
      m = map_dissoc(heap, m, heap.string(std::to_string(i / 2)));
    }
    heap.collect();
  }
  size_t n = 0;
  map_each(m, [&](Value k, Value v) {
    EXPECT_EQ("v" + std::string(static_cast<String*>(k.o)->view()),
              static_cast<String*>(v.o)->view());
    n++;
    return true;
  });
  EXPECT_EQ(n, map_count(m));
  EXPECT_GT(n, 300u);
}

}  // namespace
}  // namespace valk::lisp
