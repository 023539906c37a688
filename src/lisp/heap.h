// The per-isolate garbage-collected heap.
//
// Collection is precise mark-and-sweep and happens only at safe points: the
// VM calls Heap::collect() between instructions, when every live value is on
// a fiber stack, in a global, in a rooted handle or in a pending operation.
// Natives, the reader and the compiler may therefore allocate freely
// without rooting their temporaries, as long as they do not run Lisp code
// (the compiler roots what it holds while it expands macros).
//
// Thread affinity: a Heap belongs to its isolate's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "lisp/object.h"
#include "lisp/page_pool.h"
#include "lisp/value.h"

#if defined(__SANITIZE_ADDRESS__)
#define VALK_HEAP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VALK_HEAP_ASAN 1
#endif
#endif
#ifdef VALK_HEAP_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace valk::lisp {

// Marks objects reachable from a root; used by root providers and by the
// trace functions of object classes. Marking sets the object's mark bit;
// the heap traces what it references later (see Heap::mark_reachable).
class Tracer {
 public:
  inline void mark(Value v);
  inline void mark(Obj* o);
  inline void mark(String* s);

 private:
  friend class Heap;
  Tracer() = default;
  void push(Obj* o) {
    if (gray_count_ == gray_.size()) {
      grow();  // out of line, so that mark() inlines into trace functions
    }
    gray_[gray_count_++] = o;
  }
  void grow();

  // gray_[0..gray_count_): marked objects still to trace. Kept by the heap
  // from one collection to the next, so it grows once.
  std::vector<Obj*> gray_;
  size_t gray_count_ = 0;
};

// Behaviour of objects whose layout lives outside heap.cc: collections and
// C++-only helper nodes. Such objects derive from ClassObj.
struct ObjClass {
  const char* name;
  void (*trace)(Obj* self, Tracer& t);  // marks what the object references
  void (*destroy)(Obj* self);           // runs the destructor; not the free
};

struct ClassObj : Obj {
  const ObjClass* cls;
};

// A weak table of interned symbols (or keywords) by name: open addressing
// with linear probing in a power-of-two array of {hash, symbol} slots. The
// collector walks the whole table at every collection to drop the unmarked
// symbols; a flat array makes that one sequential read, where the nodes of
// a std::unordered_map cost a cache miss each.
class InternTable {
 public:
  // The symbol named `name`, or null; `hash` is hash_name(name).
  Symbol* find(std::string_view name, size_t hash) const;
  // Adds `sym`, which must not be in the table, under `hash`.
  void insert(Symbol* sym, size_t hash);
  // Drops every entry whose symbol the collection that is running did not
  // mark. Runs right after the mark, while the names of the dead are intact.
  void remove_unmarked();
  size_t size() const { return live_; }
  static size_t hash_name(std::string_view name) { return std::hash<std::string_view>{}(name); }

 private:
  // Empty: {0, null}. Removed (a tombstone, which lookups step over):
  // {1, null}.
  struct Slot {
    size_t hash = 0;
    Symbol* sym = nullptr;
  };
  void rehash(size_t capacity);

  std::vector<Slot> slots_;
  size_t live_ = 0;
  size_t used_ = 0;  // live entries and tombstones
};

struct HeapStats {
  size_t bytes_live = 0;  // bytes of the cells (or blocks) of live objects
  size_t objects_live = 0;
  size_t bytes_high_water = 0;
  size_t bytes_in_pages = 0;  // memory held for small objects, used or free
  uint64_t collections = 0;
  uint64_t bytes_allocated_total = 0;
  // Time the collections took (each a pause of everything the isolate
  // runs: it grows with the live objects, ~30 ms at 75 MB of them), in all
  // and the longest.
  uint64_t collection_ns_total = 0;
  uint64_t collection_ns_longest = 0;
};

// Memory layout. Objects of up to kMaxSmall bytes live in 64 KiB pages, one
// size class (a multiple of kGranule) per page; larger objects are malloc'd
// one by one, kLargeOffset bytes into a 16-byte aligned block, so that
// their address tells them from the cells of the pages. A page starts with
// a header holding two bitmaps with a bit per granule: the mark bits (set
// at the first granule of each cell the last collection found live) and the
// finalize bits (cells whose object's destructor or source-position entry
// has not been dealt with yet). Large objects keep their mark in
// Obj::marked. Marking an object thus only touches its page's header,
// unless it is large, or references others to trace.
//
// Collection marks, then sweeps lazily: a dead cell is simply one whose mark
// bit is clear, so the pause is the mark plus a pass over the page headers that
// returns empty pages to the page pool (which keeps a few spare pages and
// returns whole free chunks to the system). Allocation bumps through runs of
// unmarked cells, which it finds in the mark bitmap of the page it is filling,
// walking the class's pages in address order so that the holes fill front to
// back; entering a page, it first finalizes the dead objects of the page that
// have a finalize bit. A page that allocation did not reach during a whole
// cycle has its dead finalized at the next collection, so a destructor runs at
// the latest one collection after its object died.
//
// "Allocated since the last collection" and "live after it" are both read
// off bytes_live, so allocating touches two counters and the cell.
class Heap {
 public:
  static constexpr size_t kGranule = 16;
  static constexpr size_t kMaxSmall = 2048;
  static constexpr size_t kNumClasses = kMaxSmall / kGranule;
  static constexpr size_t kPageSize = PagePool::kPageSize;

  Heap();
  ~Heap();
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  // Allocates a T of `sizeof(T) + extra` bytes, value-initialised, with the
  // header set to `type`. Never returns null (allocation failure aborts:
  // the isolate cannot continue without memory).
  template <class T>
  T* make(Tag type, size_t extra = 0) {
    static_assert(alignof(T) <= kLargeOffset);
    void* mem = allocate(sizeof(T) + extra);
    T* o = new (mem) T();
    o->type = type;
    if constexpr (!std::is_trivially_destructible_v<T>) {
      o->flags |= kHasDestructor;
      note_finalizer(o);
    }
    return o;
  }

  // Allocates a ClassObj-derived object of class `cls`.
  template <class T>
  T* make_class(Tag type, const ObjClass* cls, size_t extra = 0) {
    T* o = make<T>(type, extra);
    o->cls = cls;
    if (cls->destroy != nullptr) {
      o->flags |= kHasDestructor;
      note_finalizer(o);
    }
    return o;
  }

  String* make_string(std::string_view s);
  // A string of `size` bytes whose data the caller fills in before the
  // next allocation; `char_count` must be its length in code points.
  String* make_string(size_t size, size_t char_count);
  Value string(std::string_view s) { return val(make_string(s)); }
  Symbol* intern_symbol(std::string_view name);
  Keyword* intern_keyword(std::string_view name);  // name without the ':'
  Value symbol(std::string_view name) { return val(intern_symbol(name)); }
  Value keyword(std::string_view name) { return val(intern_keyword(name)); }
  // `rest` must be a list.
  Value cons(Value first, Value rest);
  Value list(const Value* items, size_t n);
  Value list(std::initializer_list<Value> items) { return list(items.begin(), items.size()); }
  Bytes* make_bytes(const uint8_t* data, size_t n);

  // Source positions of forms read by the reader, kept beside the objects.
  void set_position(Obj* o, SourcePos pos);
  // Returns false if `o` has no recorded position.
  bool position(const Obj* o, SourcePos* out) const;
  uint32_t file_id(std::string_view file_name);
  const std::string& file_name(uint32_t id) const { return file_names_[id]; }

  // The isolate marks its roots through this callback at each collection.
  void set_root_marker(std::function<void(Tracer&)> marker) { root_marker_ = std::move(marker); }

  // True when enough was allocated since the last collection (or, in
  // stress mode, when anything was).
  bool should_collect() const { return stats_.bytes_live >= next_collection_; }
  // Bytes allocated since the heap began (HeapStats::bytes_allocated_total).
  uint64_t allocated_total() const {
    return allocated_before_gc_ + (stats_.bytes_live - live_after_gc_);
  }
  void collect();
  // Does now, while the thread has nothing else to run, what would otherwise
  // fall on the next allocations and so on whichever request makes them:
  // the collection, if the heap is within an eighth of its threshold; the
  // finalization of the dead in each size class's next page to sweep; and a
  // fresh page for a class whose last page is nearly used up (preparing a
  // page from the pool touches memory last used a collection ago, a few
  // microseconds on a virtual machine).
  void idle_work();
  // Stress mode: collect at every safe point that follows an allocation.
  void set_stress(bool on);
  bool stress() const { return stress_; }
  HeapStats stats() const;

 private:
  friend class Tracer;
  friend class InternTable;

  static constexpr size_t kLargeOffset = 8;

  // The start of every page; the cells follow it.
  struct PageHeader {
    static constexpr size_t kWords = kPageSize / kGranule / 64;
    // The header's size rounded up to a granule: where the first cell is.
    static constexpr size_t kSize = (16 + 2 * kWords * 8 + kGranule - 1) / kGranule * kGranule;

    uint32_t cell;        // the cell size of the page's class
    uint32_t live;        // cells marked by the collection running or last run
    uint32_t finalizers;  // finalize bits set
    uint64_t marks[kWords];
    uint64_t finalize[kWords];

    static PageHeader* of(const void* p) {
      return reinterpret_cast<PageHeader*>(reinterpret_cast<uintptr_t>(p) & ~(kPageSize - 1));
    }
    static size_t granule(const void* p) {
      return (reinterpret_cast<uintptr_t>(p) & (kPageSize - 1)) / kGranule;
    }
    static bool test(const uint64_t* bits, size_t g) { return bits[g / 64] >> (g % 64) & 1; }
    char* base() { return reinterpret_cast<char*>(this); }
    char* first() { return base() + kSize; }
    char* limit() { return first() + (kPageSize - kSize) / cell * cell; }
    bool free_run(char* from, char** start, char** end);
  };

  static bool is_large(const Obj* o) { return reinterpret_cast<uintptr_t>(o) & kLargeOffset; }
  // Tests and sets the mark of `o`; false if it was already marked.
  static bool set_mark(Obj* o) {
    if (is_large(o)) {
      if (o->marked) {
        return false;
      }
      o->marked = 1;
      return true;
    }
    PageHeader* ph = PageHeader::of(o);
    size_t g = PageHeader::granule(o);
    uint64_t bit = uint64_t{1} << (g % 64);
    if (ph->marks[g / 64] & bit) {
      return false;
    }
    ph->marks[g / 64] |= bit;
    ph->live++;
    return true;
  }
  static bool is_marked(const Obj* o) {
    return is_large(o) ? o->marked
                       : PageHeader::test(PageHeader::of(o)->marks, PageHeader::granule(o));
  }

  struct SizeClass {
    // The run of free cells being allocated from, [bump, bump_end), in
    // `page`; bump == bump_end when it is used up, and bump_end is then
    // where the search for the next run resumes.
    char* bump = nullptr;
    char* bump_end = nullptr;
    char* page = nullptr;
    // pages[next_page..] are still to be swept since the last collection.
    size_t next_page = 0;
    std::vector<char*> pages;  // in the order allocation walks them
  };

  void* allocate(size_t size) {
    if (size <= kMaxSmall) {
      size_t c = (size - 1) / kGranule;
      size_t cell = (c + 1) * kGranule;
      stats_.bytes_live += cell;
      stats_.objects_live++;
      SizeClass& sc = classes_[c];
      if (sc.bump != sc.bump_end) {
        char* p = sc.bump;
        sc.bump += cell;
        unpoison(p, cell);
        return p;
      }
      return allocate_from_next_run(c);
    }
    return allocate_large(size);
  }
  void* allocate_from_next_run(size_t c);
  void* allocate_large(size_t size);
  static void* large_block(Obj* o);  // what allocate_large() malloc'd
  char* new_page(size_t cell);
  void release_page(char* page);
  // Sets the finalize bit of a new small object that has something to
  // finalize (large ones are all visited by sweep_large()).
  void note_finalizer(Obj* o);
  // Under ASan, dead and never-used cells are poisoned, so a use of a
  // collected object is reported instead of reading a reused cell.
  static void poison(void* p, size_t n) {
#ifdef VALK_HEAP_ASAN
    ASAN_POISON_MEMORY_REGION(p, n);
#else
    (void)p, (void)n;
#endif
  }
  static void unpoison(void* p, size_t n) {
#ifdef VALK_HEAP_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
    (void)p, (void)n;
#endif
  }
  // Clears the mark bits of a page, which allocation reads during a cycle
  // and the next collection sets afresh.
  void clear_marks(char* page);
  void mark_reachable();
  void sweep_class(size_t c);
  void sweep_large();
  void finalize_dead(char* page);
  // Runs the destructor and forgets the side-table entries of a dead object.
  void finalize(Obj* o);
  void trace(Obj* o, Tracer& t);
  void destroy(Obj* o);
  Symbol* intern(InternTable& table, Tag type, std::string_view name);

  SizeClass classes_[kNumClasses];
  // A bit per size class that allocation has entered a page of since the
  // last collection (its `page` is set): the classes idle_work() visits.
  uint64_t entered_[kNumClasses / 64] = {};
  std::vector<Obj*> large_;
  PagePool pages_;
  // Collect when bytes_live reaches this.
  size_t next_collection_;
  // bytes_live right after the last collection, and the running total of
  // bytes allocated up to then: the rest of the figures derive from them.
  size_t live_after_gc_ = 0;
  uint64_t allocated_before_gc_ = 0;
  bool stress_ = false;
  HeapStats stats_;
  std::function<void(Tracer&)> root_marker_;
  Tracer tracer_;
  // Weak: entries of unmarked symbols are removed at each collection.
  InternTable symbols_;
  InternTable keywords_;
  std::unordered_map<const Obj*, SourcePos> positions_;
  std::vector<std::string> file_names_;
};

inline void Tracer::mark(Obj* o) {
  if (o != nullptr && Heap::set_mark(o)) {
    push(o);
  }
}

// Strings and byte buffers reference nothing: marking them is all there is
// to do, and needs no load of the object.
inline void Tracer::mark(String* s) {
  if (s != nullptr) {
    Heap::set_mark(s);
  }
}

inline void Tracer::mark(Value v) {
  if (v.is_heap()) {
    if (v.tag == Tag::String || v.tag == Tag::Bytes) {
      Heap::set_mark(v.o);
    } else {
      mark(v.o);
    }
  }
}

}  // namespace valk::lisp
