#include "lisp/heap.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace valk::lisp {
namespace {

TEST(Heap, InternsSymbolsAndKeywordsSeparately) {
  Heap heap;
  EXPECT_EQ(heap.intern_symbol("a"), heap.intern_symbol("a"));
  EXPECT_NE(static_cast<Obj*>(heap.intern_symbol("a")), heap.intern_keyword("a"));
}

TEST(Heap, CollectFreesUnreachableAndKeepsRoots) {
  Heap heap;
  Value kept = heap.list({Value::integer(1), heap.string("two")});
  heap.set_root_marker([&](Tracer& t) { t.mark(kept); });
  for (int i = 0; i < 1000; i++) {
    heap.string("garbage");
  }
  size_t before = heap.stats().objects_live;
  heap.collect();
  EXPECT_LT(heap.stats().objects_live, before);
  EXPECT_EQ(heap.stats().objects_live, 3u);  // two conses and a string
  EXPECT_EQ(static_cast<Cons*>(kept.o)->count, 2);
}

// The sweep calls finalize only for objects whose header says they have
// something to release: a class with a destroy hook must get it called,
// and only for the dead.
int destroyed = 0;
const ObjClass kCountedClass = {"counted", [](Obj*, Tracer&) {}, [](Obj*) { destroyed++; }};
const ObjClass kPlainClass = {"plain", [](Obj*, Tracer&) {}, nullptr};

TEST(Heap, SweepRunsTheDestroyHookOfDeadObjectsOnly) {
  Heap heap;
  destroyed = 0;
  Value kept = val(heap.make_class<ClassObj>(Tag::Internal, &kCountedClass));
  heap.set_root_marker([&](Tracer& t) { t.mark(kept); });
  for (int i = 0; i < 10; i++) {
    heap.make_class<ClassObj>(Tag::Internal, &kCountedClass);
    heap.make_class<ClassObj>(Tag::Internal, &kPlainClass);
  }
  heap.collect();
  EXPECT_EQ(destroyed, 10);
  EXPECT_EQ(heap.stats().objects_live, 1u);
}

TEST(Heap, UnreachableSymbolsLeaveTheInternTable) {
  Heap heap;
  Symbol* a = heap.intern_symbol("transient");
  heap.collect();
  Symbol* b = heap.intern_symbol("transient");
  (void)a;
  EXPECT_EQ(heap.stats().objects_live, 2u);  // the new symbol and its name
  EXPECT_EQ(b->name->view(), "transient");
}

// The intern tables drop dead symbols at every collection and reuse their
// slots: a live symbol must stay findable past the holes the dead leave,
// through many rounds of removal and growth.
TEST(Heap, InternTableKeepsLiveSymbolsThroughRemovalsAndGrowth) {
  Heap heap;
  std::vector<Symbol*> kept;
  heap.set_root_marker([&](Tracer& t) {
    for (Symbol* s : kept) {
      t.mark(val(s));
    }
  });
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 500; i++) {
      std::string name = "s" + std::to_string(round) + "-" + std::to_string(i);
      Symbol* s = heap.intern_symbol(name);
      if (i % 7 == 0) {
        kept.push_back(s);
      }
    }
    heap.collect();
    for (Symbol* s : kept) {
      ASSERT_EQ(heap.intern_symbol(s->name->view()), s) << s->name->view();
    }
    // Each kept symbol and its name, nothing else.
    ASSERT_EQ(heap.stats().objects_live, 2 * kept.size());
  }
  Symbol* fresh = heap.intern_symbol("s0-1");  // died in round 0
  EXPECT_EQ(heap.intern_symbol("s0-1"), fresh);
}

TEST(Heap, SweptCellsAreReusedAndEmptyPagesReleased) {
  Heap heap;
  Value kept = heap.string("kept");
  heap.set_root_marker([&](Tracer& t) { t.mark(kept); });
  for (int i = 0; i < 20000; i++) {
    heap.string("garbage");
  }
  size_t grown = heap.stats().bytes_in_pages;
  heap.collect();
  EXPECT_EQ(heap.stats().objects_live, 1u);
  // Only the page that holds `kept` (and the class's newest) stays in use.
  EXPECT_LE(heap.stats().bytes_in_pages, 2 * Heap::kPageSize);
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < 20000; i++) {
      heap.string("garbage");
    }
    heap.collect();
  }
  EXPECT_LE(heap.stats().bytes_in_pages, grown);
  EXPECT_EQ(static_cast<String*>(kept.o)->view(), "kept");
}

TEST(Heap, LargeObjectsAreCollectedAndCounted) {
  Heap heap;
  std::string big(100000, 'x');
  Value kept = heap.string(big);
  heap.set_root_marker([&](Tracer& t) { t.mark(kept); });
  size_t live = heap.stats().bytes_live;
  EXPECT_GE(live, big.size());
  heap.string(big);
  EXPECT_GE(heap.stats().bytes_live, live + big.size());
  heap.collect();
  EXPECT_EQ(heap.stats().bytes_live, live);
  EXPECT_EQ(heap.stats().objects_live, 1u);
  EXPECT_EQ(static_cast<String*>(kept.o)->view(), big);
  EXPECT_GE(heap.stats().bytes_allocated_total, 2 * big.size());
  EXPECT_GE(heap.stats().bytes_high_water, 2 * big.size());
}

TEST(Heap, StressModeCollectsAfterEveryAllocation) {
  Heap heap;
  heap.set_stress(true);
  EXPECT_FALSE(heap.should_collect());
  heap.string("a");
  EXPECT_TRUE(heap.should_collect());
  heap.collect();
  EXPECT_FALSE(heap.should_collect());
  EXPECT_EQ(heap.stats().objects_live, 0u);
}

}  // namespace
}  // namespace valk::lisp
