#include "lisp/heap.h"

#include <gtest/gtest.h>

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

TEST(Heap, UnreachableSymbolsLeaveTheInternTable) {
  Heap heap;
  Symbol* a = heap.intern_symbol("transient");
  heap.collect();
  Symbol* b = heap.intern_symbol("transient");
  (void)a;
  EXPECT_EQ(heap.stats().objects_live, 2u);  // the new symbol and its name
  EXPECT_EQ(b->name->view(), "transient");
}

}  // namespace
}  // namespace valk::lisp
