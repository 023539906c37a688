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

// The sweep finalizes only objects whose header says they have something
// to release: a class with a destroy hook must get it called, and only for
// the dead. It does so lazily, when allocation comes back to the page, and
// at the latest at the next collection.
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
  EXPECT_EQ(heap.stats().objects_live, 1u);
  heap.collect();  // nothing was allocated in between
  EXPECT_EQ(destroyed, 10);
}

// Each dead object is finalized once, whether allocation reaches its page
// first or the next collection does, and the heap's destructor finalizes
// the rest (the live, and the dead not swept yet).
TEST(Heap, EveryObjectIsFinalizedExactlyOnce) {
  destroyed = 0;
  int made = 0;
  {
    Heap heap;
    std::vector<Value> kept;
    heap.set_root_marker([&](Tracer& t) {
      for (Value v : kept) {
        t.mark(v);
      }
    });
    for (int round = 0; round < 6; round++) {
      for (int i = 0; i < 3000; i++) {
        Value v = val(heap.make_class<ClassObj>(Tag::Internal, &kCountedClass));
        made++;
        if (i % 97 == 0) {
          kept.push_back(v);
        }
      }
      if (round % 2 == 1) {
        kept.erase(kept.begin(), kept.begin() + kept.size() / 2);
      }
      heap.collect();
      ASSERT_LE(destroyed, made - static_cast<int>(kept.size()));
    }
    heap.collect();
    heap.collect();
    EXPECT_EQ(destroyed, made - static_cast<int>(kept.size()));
  }
  EXPECT_EQ(destroyed, made);
}

// Allocation after a collection fills the holes the dead left between the
// survivors; what it allocates there must not be handed out again in the
// same cycle, nor be mistaken for dead by the next collection.
TEST(Heap, CellsAllocatedAfterACollectionAreNotReusedBeforeTheNext) {
  Heap heap;
  std::vector<Value> kept;
  std::vector<std::string> expected;
  heap.set_root_marker([&](Tracer& t) {
    for (Value v : kept) {
      t.mark(v);
    }
  });
  for (int i = 0; i < 3000; i++) {
    std::string s = "old-" + std::to_string(i);
    Value v = heap.string(s);
    if (i % 3 == 0) {
      kept.push_back(v);
      expected.push_back(s);
    }
  }
  heap.collect();
  size_t pages = heap.stats().bytes_in_pages;
  for (int i = 0; i < 1900; i++) {
    std::string s = "new-" + std::to_string(i);
    kept.push_back(heap.string(s));
    expected.push_back(s);
  }
  EXPECT_EQ(heap.stats().bytes_in_pages, pages);  // all in the holes
  for (size_t i = 0; i < kept.size(); i++) {
    ASSERT_EQ(static_cast<String*>(kept[i].o)->view(), expected[i]);
  }
  heap.collect();
  EXPECT_EQ(heap.stats().objects_live, kept.size());
  for (int i = 0; i < 3000; i++) {
    heap.string("garbage-" + std::to_string(i));
  }
  for (size_t i = 0; i < kept.size(); i++) {
    ASSERT_EQ(static_cast<String*>(kept[i].o)->view(), expected[i]);
  }
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

// A large object is told from a small one by its address alone, both when
// it is marked and when it is traced; here large and small objects
// reference each other through every kind of mark.
struct Holder : ClassObj {
  Value items[4];
};
const ObjClass kHolderClass = {"holder",
                               [](Obj* self, Tracer& t) {
                                 for (Value v : static_cast<Holder*>(self)->items) {
                                   t.mark(v);
                                 }
                               },
                               [](Obj*) { destroyed++; }};

TEST(Heap, LargeAndSmallObjectsReferenceEachOther) {
  destroyed = 0;
  Heap heap;
  auto* big = heap.make_class<Holder>(Tag::Internal, &kHolderClass, 4000);
  auto* small = heap.make_class<Holder>(Tag::Internal, &kHolderClass);
  std::string text(5000, 'y');
  big->items[0] = val(small);
  big->items[1] = heap.string(text);
  small->items[0] = val(big);  // a cycle through both kinds
  small->items[1] = heap.string("small");
  small->items[2] = heap.cons(heap.string(text), Value::empty_list());
  Obj* root = big;
  heap.set_root_marker([&](Tracer& t) { t.mark(root); });
  for (int i = 0; i < 100; i++) {
    heap.make_class<Holder>(Tag::Internal, &kHolderClass, 3000);
    heap.string(text);
  }
  heap.collect();
  heap.collect();
  EXPECT_EQ(heap.stats().objects_live, 6u);
  EXPECT_EQ(destroyed, 100);
  EXPECT_EQ(static_cast<String*>(big->items[1].o)->view(), text);
  EXPECT_EQ(static_cast<String*>(small->items[1].o)->view(), "small");
  EXPECT_EQ(static_cast<String*>(static_cast<Cons*>(small->items[2].o)->first.o)->view(), text);
  root = nullptr;
  heap.collect();
  heap.collect();
  EXPECT_EQ(heap.stats().objects_live, 0u);
  EXPECT_EQ(destroyed, 102);
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

// idle_work() collects once the heap is within an eighth of the threshold
// that would make the next safe point collect, and not before.
TEST(Heap, IdleWorkCollectsOnlyNearTheThreshold) {
  Heap heap;
  heap.set_root_marker([](Tracer&) {});
  while (!heap.should_collect()) {
    heap.string("garbage");
  }
  heap.collect();
  // A collection leaves nothing live, so the next threshold is as far as
  // the first one was.
  size_t threshold = heap.stats().bytes_high_water;
  auto fill_to = [&](size_t bytes) {
    while (heap.stats().bytes_live < bytes) {
      heap.string("garbage");
    }
  };
  fill_to(threshold * 8 / 10);
  heap.idle_work();
  EXPECT_EQ(heap.stats().collections, 1u);
  fill_to(threshold * 9 / 10);
  ASSERT_FALSE(heap.should_collect());
  heap.idle_work();
  EXPECT_EQ(heap.stats().collections, 2u);
  EXPECT_EQ(heap.stats().objects_live, 0u);
}

// The dead of the page allocation will enter next are finalized by
// idle_work(), before any allocation reaches them.
TEST(Heap, IdleWorkFinalizesTheNextPageAhead) {
  Heap heap;
  destroyed = 0;
  std::vector<Value> kept;
  heap.set_root_marker([&](Tracer& t) {
    for (Value v : kept) {
      t.mark(v);
    }
  });
  // Several pages of the class, each keeping a survivor (so none is empty).
  for (int i = 0; i < 10000; i++) {
    Value v = val(heap.make_class<ClassObj>(Tag::Internal, &kCountedClass));
    if (i % 100 == 0) {
      kept.push_back(v);
    }
  }
  heap.collect();
  ASSERT_EQ(destroyed, 0);                                   // finalized lazily
  heap.make_class<ClassObj>(Tag::Internal, &kCountedClass);  // enters the first page
  int after_first_page = destroyed;
  ASSERT_GT(after_first_page, 0);
  heap.idle_work();
  EXPECT_GT(destroyed, after_first_page);
  int after_idle = destroyed;
  heap.idle_work();  // the same page again: nothing left in it
  EXPECT_EQ(destroyed, after_idle);
}

// A class whose last page is three quarters used gets its next page from
// idle_work(), and the allocations that follow use it without taking
// another; one with room left gets nothing.
TEST(Heap, IdleWorkGivesANearlyFullClassItsNextPage) {
  Heap heap;
  heap.set_root_marker([](Tracer&) {});
  size_t before = heap.stats().bytes_live;
  heap.string("x");
  size_t cell = heap.stats().bytes_live - before;
  size_t per_page = (Heap::kPageSize - 1024) / cell;  // about: the header takes a KiB
  for (size_t i = 1; i < per_page / 2; i++) {
    heap.string("x");
  }
  size_t one_page = heap.stats().bytes_in_pages;
  heap.idle_work();
  EXPECT_EQ(heap.stats().bytes_in_pages, one_page);  // half full: nothing yet
  for (size_t i = per_page / 2; i < per_page * 8 / 10; i++) {
    heap.string("x");
  }
  heap.idle_work();
  size_t two_pages = heap.stats().bytes_in_pages;
  EXPECT_EQ(two_pages, one_page + Heap::kPageSize);
  for (size_t i = per_page * 8 / 10; i < per_page * 3 / 2; i++) {
    heap.string("x");
  }
  EXPECT_EQ(heap.stats().bytes_in_pages, two_pages);
}

}  // namespace
}  // namespace valk::lisp
