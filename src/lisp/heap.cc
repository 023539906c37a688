#include "lisp/heap.h"

#include <malloc.h>
#include <uv.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "lisp/fiber.h"
#include "lisp/function.h"
#include "lisp/utf8.h"

namespace valk::lisp {

namespace {
// Collect when the heap has grown by its live size since the last
// collection, and by at least this much.
constexpr size_t kMinThreshold = 4 << 20;
// Empty pages kept for reuse when whole chunks could go back to the system
// (2 MiB).
constexpr size_t kMaxSparePages = 32;
}  // namespace

// Finds the first run of unmarked cells at or after `from`, a cell
// boundary: it starts at the first unmarked cell and ends at the next marked
// one (whose bit is the next set bit, since only the first granule of a cell
// is ever marked) or at the end of the cells. False if there is none.
bool Heap::PageHeader::free_run(char* from, char** start, char** end) {
  char* lim = limit();
  char* p = from;
  while (p < lim && test(marks, granule(p))) {
    p += cell;
  }
  if (p >= lim) {
    return false;
  }
  size_t g = granule(p) + 1;  // may be one past the last granule
  size_t w = g / 64;
  uint64_t bits = w < kWords ? marks[w] & (~uint64_t{0} << (g % 64)) : 0;
  while (bits == 0 && ++w < kWords) {
    bits = marks[w];
  }
  *start = p;
  *end = bits == 0 ? lim : base() + (w * 64 + std::countr_zero(bits)) * kGranule;
  return true;
}

Heap::Heap() : next_collection_(kMinThreshold) {
  file_names_.emplace_back("?");
}

Heap::~Heap() {
  for (SizeClass& sc : classes_) {
    for (char* page : sc.pages) {
      PageHeader* ph = PageHeader::of(page);
      for (size_t w = 0; w < PageHeader::kWords; w++) {
        for (uint64_t bits = ph->finalize[w]; bits != 0; bits &= bits - 1) {
          auto* o = reinterpret_cast<Obj*>(page + (w * 64 + std::countr_zero(bits)) * kGranule);
          unpoison(o, ph->cell);
          destroy(o);
        }
      }
      unpoison(page, kPageSize);
    }
  }
  for (Obj* o : large_) {
    destroy(o);
    free(large_block(o));
  }
}

// ---------------------------------------------------------------------------
// Allocation

char* Heap::new_page(size_t cell) {
  static_assert(sizeof(PageHeader) <= PageHeader::kSize);
  char* page = pages_.take();
  auto* ph = reinterpret_cast<PageHeader*>(page);
  ph->cell = static_cast<uint32_t>(cell);
  ph->live = 0;
  ph->finalizers = 0;
  memset(ph->marks, 0, sizeof ph->marks);
  memset(ph->finalize, 0, sizeof ph->finalize);
  poison(ph->first(), kPageSize - PageHeader::kSize);
  stats_.bytes_in_pages += kPageSize;
  return page;
}

void Heap::release_page(char* page) {
  stats_.bytes_in_pages -= kPageSize;
  unpoison(page, kPageSize);
  pages_.give(page);
}

// The allocation path past the current run: the next run of the page being
// filled, else the next page still to sweep (whose dead are finalized
// first), else a new page.
void* Heap::allocate_from_next_run(size_t c) {
  SizeClass& sc = classes_[c];
  entered_[c / 64] |= uint64_t{1} << (c % 64);
  size_t cell = (c + 1) * kGranule;
  while (sc.page == nullptr ||
         !PageHeader::of(sc.page)->free_run(sc.bump_end, &sc.bump, &sc.bump_end)) {
    if (sc.page != nullptr) {
      clear_marks(sc.page);  // done with them, and the header is in the cache now
    }
    if (sc.next_page < sc.pages.size()) {
      sc.page = sc.pages[sc.next_page++];
      finalize_dead(sc.page);
      sc.bump = sc.bump_end = PageHeader::of(sc.page)->first();
      continue;
    }
    sc.page = new_page(cell);
    sc.pages.push_back(sc.page);
    sc.next_page = sc.pages.size();
    PageHeader* ph = PageHeader::of(sc.page);
    sc.bump = ph->first();
    sc.bump_end = ph->limit();
    break;
  }
  char* p = sc.bump;
  sc.bump += cell;
  unpoison(p, cell);
  return p;
}

void Heap::note_finalizer(Obj* o) {
  if (!is_large(o)) {
    PageHeader* ph = PageHeader::of(o);
    size_t g = PageHeader::granule(o);
    uint64_t bit = uint64_t{1} << (g % 64);
    if (!(ph->finalize[g / 64] & bit)) {
      ph->finalize[g / 64] |= bit;
      ph->finalizers++;
    }
  }
}

// A large object starts kLargeOffset bytes into a 16-byte aligned block, so
// that is_large() can tell it from the cells of the pages by its address.
void* Heap::allocate_large(size_t size) {
  void* mem = nullptr;
  if (posix_memalign(&mem, kGranule, kLargeOffset + size) != 0) {
    fprintf(stderr, "valk: out of memory allocating %zu bytes\n", size);
    abort();
  }
  stats_.bytes_live += malloc_usable_size(mem);
  stats_.objects_live++;
  auto* o = reinterpret_cast<Obj*>(static_cast<char*>(mem) + kLargeOffset);
  large_.push_back(o);
  return o;
}

void* Heap::large_block(Obj* o) {
  return reinterpret_cast<char*>(o) - kLargeOffset;
}

String* Heap::make_string(size_t size, size_t char_count) {
  String* str = make<String>(Tag::String, size);
  str->size = static_cast<uint32_t>(size);
  str->char_count = static_cast<uint32_t>(char_count);
  str->hash_code = 0;
  str->data[size] = '\0';
  return str;
}

String* Heap::make_string(std::string_view s) {
  String* str = make_string(s.size(), utf8_count(s));
  if (!s.empty()) {  // an empty view may have no data pointer at all
    memcpy(str->data, s.data(), s.size());
  }
  return str;
}

Symbol* Heap::intern(InternTable& table, Tag type, std::string_view name) {
  size_t hash = InternTable::hash_name(name);
  if (Symbol* sym = table.find(name, hash)) {
    return sym;
  }
  String* s = make_string(name);
  Symbol* sym = make<Symbol>(type);
  sym->name = s;
  table.insert(sym, hash);
  return sym;
}

Symbol* Heap::intern_symbol(std::string_view name) {
  return intern(symbols_, Tag::Symbol, name);
}

Keyword* Heap::intern_keyword(std::string_view name) {
  return intern(keywords_, Tag::Keyword, name);
}

Value Heap::cons(Value first, Value rest) {
  Cons* c = make<Cons>(Tag::List);
  c->first = first;
  c->rest = rest;
  c->count = rest.o == nullptr ? 1 : static_cast<Cons*>(rest.o)->count + 1;
  return val(c);
}

Value Heap::list(const Value* items, size_t n) {
  Value result = Value::empty_list();
  for (size_t i = n; i > 0; i--) {
    result = cons(items[i - 1], result);
  }
  return result;
}

Bytes* Heap::make_bytes(const uint8_t* data, size_t n) {
  Bytes* b = make<Bytes>(Tag::Bytes, n);
  b->size = static_cast<uint32_t>(n);
  if (n > 0) {
    memcpy(b->data, data, n);
  }
  return b;
}

void Heap::set_position(Obj* o, SourcePos pos) {
  positions_[o] = pos;
  o->flags |= kHasSourcePos;
  note_finalizer(o);
}

bool Heap::position(const Obj* o, SourcePos* out) const {
  if (o == nullptr || !(o->flags & kHasSourcePos)) {
    return false;
  }
  auto it = positions_.find(o);
  if (it == positions_.end()) {
    return false;
  }
  *out = it->second;
  return true;
}

uint32_t Heap::file_id(std::string_view file_name) {
  for (size_t i = 1; i < file_names_.size(); i++) {
    if (file_names_[i] == file_name) {
      return static_cast<uint32_t>(i);
    }
  }
  file_names_.emplace_back(file_name);
  return static_cast<uint32_t>(file_names_.size() - 1);
}

void Heap::set_stress(bool on) {
  stress_ = on;
  next_collection_ = stats_.bytes_live + (on ? 1 : kMinThreshold);
}

HeapStats Heap::stats() const {
  HeapStats s = stats_;
  // bytes_live only grows between collections, so its peak is either now
  // or recorded at a collection.
  s.bytes_high_water = std::max(s.bytes_high_water, s.bytes_live);
  s.bytes_allocated_total = allocated_total();
  return s;
}

// ---------------------------------------------------------------------------
// Intern tables

Symbol* InternTable::find(std::string_view name, size_t hash) const {
  if (slots_.empty()) {
    return nullptr;
  }
  size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.sym == nullptr) {
      if (slot.hash == 0) {
        return nullptr;
      }
    } else if (slot.hash == hash && slot.sym->name->view() == name) {
      return slot.sym;
    }
  }
}

void InternTable::insert(Symbol* sym, size_t hash) {
  // At most three quarters full, tombstones included, so probes stay short
  // and always reach an empty slot.
  if ((used_ + 1) * 4 > slots_.size() * 3) {
    size_t capacity = 16;
    while (capacity * 3 < (live_ + 1) * 8) {  // at most 3/8 full after
      capacity *= 2;
    }
    rehash(capacity);
  }
  size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i].sym != nullptr) {
    i = (i + 1) & mask;
  }
  if (slots_[i].hash == 0) {
    used_++;  // else it reuses a tombstone
  }
  slots_[i] = {hash, sym};
  live_++;
}

void InternTable::rehash(size_t capacity) {
  std::vector<Slot> old(capacity);
  old.swap(slots_);
  used_ = live_;
  size_t mask = capacity - 1;
  for (const Slot& slot : old) {
    if (slot.sym != nullptr) {
      size_t i = slot.hash & mask;
      while (slots_[i].sym != nullptr) {
        i = (i + 1) & mask;
      }
      slots_[i] = slot;
    }
  }
}

void InternTable::remove_unmarked() {
  for (Slot& slot : slots_) {
    if (slot.sym != nullptr && !Heap::is_marked(slot.sym)) {
      slot = {1, nullptr};
      live_--;
    }
  }
}

// ---------------------------------------------------------------------------
// Collection

void Heap::trace(Obj* o, Tracer& t) {
  switch (o->type) {
    case Tag::List: {
      auto* c = static_cast<Cons*>(o);
      t.mark(c->first);
      t.mark(c->rest);
      break;
    }
    case Tag::Symbol:
    case Tag::Keyword:
      t.mark(static_cast<Symbol*>(o)->name);
      break;
    case Tag::Vector:
    case Tag::Map:
    case Tag::Set:
    case Tag::Internal: {
      auto* c = static_cast<ClassObj*>(o);
      c->cls->trace(c, t);
      break;
    }
    case Tag::Proto: {
      auto* p = static_cast<Proto*>(o);
      for (Value v : p->constants) {
        t.mark(v);
      }
      for (Proto* a : p->arities) {
        t.mark(a);
      }
      t.mark(p->name);
      break;
    }
    case Tag::Closure: {
      auto* c = static_cast<Closure*>(o);
      t.mark(c->proto);
      for (uint32_t i = 0; i < c->num_captured; i++) {
        t.mark(c->captured[i]);
      }
      break;
    }
    case Tag::Native:
      t.mark(static_cast<Native*>(o)->name);
      break;
    case Tag::Var: {
      auto* v = static_cast<Var*>(o);
      t.mark(v->name);
      t.mark(v->value);
      break;
    }
    case Tag::Atom:
      t.mark(static_cast<Atom*>(o)->value);
      break;
    case Tag::Error: {
      auto* e = static_cast<Error*>(o);
      t.mark(e->message);
      t.mark(e->data);
      break;
    }
    case Tag::Promise: {
      auto* p = static_cast<Promise*>(o);
      t.mark(p->value);
      t.mark(p->fiber);
      for (const Reaction& r : p->reactions) {
        t.mark(r.target);
      }
      break;
    }
    case Tag::Fiber: {
      auto* f = static_cast<Fiber*>(o);
      for (uint32_t i = 0; i < f->sp; i++) {
        t.mark(f->stack[i]);
      }
      for (const Frame& fr : f->frames) {
        t.mark(fr.closure);
        t.mark(fr.proto);
      }
      t.mark(f->result);
      t.mark(f->label);
      t.mark(f->waiting_on);
      t.mark(f->resume_value);
      t.mark(f->pending_error);
      t.mark(f->tail_fn);
      for (Value v : f->tail_args) {
        t.mark(v);
      }
      break;
    }
    default:
      break;
  }
}

void Heap::destroy(Obj* o) {
  switch (o->type) {
    case Tag::Vector:
    case Tag::Map:
    case Tag::Set:
    case Tag::Internal: {
      auto* c = static_cast<ClassObj*>(o);
      if (c->cls->destroy != nullptr) {
        c->cls->destroy(c);
      }
      break;
    }
    case Tag::Proto:
      static_cast<Proto*>(o)->~Proto();
      break;
    case Tag::Error:
      static_cast<Error*>(o)->~Error();
      break;
    case Tag::Promise:
      static_cast<Promise*>(o)->~Promise();
      break;
    case Tag::Fiber:
      static_cast<Fiber*>(o)->~Fiber();
      break;
    default:
      break;  // trivially destructible
  }
}

// A dead object's destructor runs before its cell is reused, at the
// latest one collection after it died (see finalize_dead()), often from
// inside an allocation. Destructors (ObjClass::destroy included) therefore
// release C++ storage only: they never allocate, nor read other heap
// objects, which may have been reused by then.
void Heap::finalize(Obj* o) {
  if (o->flags & kHasSourcePos) {
    positions_.erase(o);
  }
  destroy(o);
}

// Finalizes the objects of `page` that have a finalize bit and no mark.
// Runs when allocation enters the page and, for the pages it did not enter,
// at the next collection; the bits it clears make it idempotent.
void Heap::finalize_dead(char* page) {
  PageHeader* ph = PageHeader::of(page);
  if (ph->finalizers == 0) {
    return;
  }
  for (size_t w = 0; w < PageHeader::kWords; w++) {
    uint64_t dead = ph->finalize[w] & ~ph->marks[w];
    if (dead == 0) {
      continue;
    }
    ph->finalize[w] &= ~dead;
    ph->finalizers -= std::popcount(dead);
    for (; dead != 0; dead &= dead - 1) {
      auto* o = reinterpret_cast<Obj*>(page + (w * 64 + std::countr_zero(dead)) * kGranule);
      unpoison(o, ph->cell);
      finalize(o);
      poison(o, ph->cell);
    }
  }
}

void Heap::clear_marks(char* page) {
  PageHeader* ph = PageHeader::of(page);
  ph->live = 0;
  memset(ph->marks, 0, sizeof ph->marks);
}

void Tracer::grow() {
  gray_.resize(std::max<size_t>(256, 2 * gray_.size()));
}

// Traces everything reachable from the roots. Tracer::mark() sets the mark
// bit in the page header, which stays in the cache, and pushes the objects
// it newly marked that may reference others; each is loaded when it leaves
// a small window that prefetched it kAhead pops earlier. Between two
// collections the mutator allocates several times the size of the cache,
// so the live objects are cold, and loading each one as soon as its
// reference is found would take their cache misses one at a time.
void Heap::mark_reachable() {
  Tracer& t = tracer_;
  if (root_marker_) {
    root_marker_(t);
  }
  constexpr size_t kAhead = 16;  // a power of two
  Obj* window[kAhead];
  size_t head = 0;
  size_t n = 0;
  for (;;) {
    while (n < kAhead && t.gray_count_ > 0) {
      Obj* o = t.gray_[--t.gray_count_];
      // The header, and the rest of the object's first 64 bytes, which
      // cross into the next cache line unless the cell starts one.
      __builtin_prefetch(o);
      __builtin_prefetch(reinterpret_cast<char*>(o) + 63);
      window[(head + n) % kAhead] = o;
      n++;
    }
    if (n == 0) {
      return;
    }
    Obj* o = window[head];
    head = (head + 1) % kAhead;
    n--;
    trace(o, t);
  }
}

// The part of the sweep that cannot wait: the live figures of the class's
// pages, and the return of its empty pages to the pool. A page allocation
// did not enter since the last collection has its dead finalized now; an
// empty page it did enter keeps the dead it must still finalize until it
// enters it again (in steady state it refills the same pages each cycle).
// Starts the class's next cycle of lazy sweeping from its first page.
void Heap::sweep_class(size_t c) {
  SizeClass& sc = classes_[c];
  size_t cell = (c + 1) * kGranule;
  size_t kept = 0;
  size_t live = 0;
  for (size_t i = 0; i < sc.pages.size(); i++) {
    char* page = sc.pages[i];
    PageHeader* ph = PageHeader::of(page);
    if (i >= sc.next_page) {
      finalize_dead(page);
    }
    if (ph->live == 0 && ph->finalizers == 0) {
      release_page(page);
      continue;
    }
    live += ph->live;
#ifdef VALK_HEAP_ASAN
    char* start;
    for (char* end = ph->first(); ph->free_run(end, &start, &end);) {
      poison(start, end - start);
    }
#endif
    sc.pages[kept++] = page;
  }
  sc.pages.resize(kept);
  sc.next_page = 0;
  sc.page = sc.bump = sc.bump_end = nullptr;
  stats_.bytes_live += live * cell;
  stats_.objects_live += live;
}

void Heap::sweep_large() {
  size_t kept = 0;
  for (Obj* o : large_) {
    if (o->marked) {
      o->marked = 0;
      large_[kept++] = o;
      stats_.bytes_live += malloc_usable_size(large_block(o));
      stats_.objects_live++;
      continue;
    }
    finalize(o);
    free(large_block(o));
  }
  large_.resize(kept);
}

void Heap::idle_work() {
  if (stats_.bytes_live >= next_collection_ - next_collection_ / 8) {
    collect();
  }
  for (size_t w = 0; w < std::size(entered_); w++) {
    for (uint64_t bits = entered_[w]; bits != 0; bits &= bits - 1) {
      size_t c = w * 64 + std::countr_zero(bits);
      SizeClass& sc = classes_[c];
      if (sc.next_page < sc.pages.size()) {
        finalize_dead(sc.pages[sc.next_page]);  // idempotent: entering it finds nothing left
        continue;
      }
      // The current run is the page's last when it ends at the limit.
      PageHeader* ph = PageHeader::of(sc.page);
      if (sc.bump_end == ph->limit() &&
          static_cast<size_t>(sc.bump_end - sc.bump) < kPageSize / 4) {
        sc.pages.push_back(new_page((c + 1) * kGranule));  // entered as a page to sweep: all free
      }
    }
  }
}

void Heap::collect() {
  uint64_t started_ns = uv_hrtime();
  stats_.bytes_high_water = std::max(stats_.bytes_high_water, stats_.bytes_live);
  allocated_before_gc_ += stats_.bytes_live - live_after_gc_;

  // The marks of the pages allocation has left behind are clear already.
  for (SizeClass& sc : classes_) {
    size_t from = sc.page == nullptr ? sc.next_page : sc.next_page - 1;
    for (size_t i = from; i < sc.pages.size(); i++) {
      clear_marks(sc.pages[i]);
    }
  }
  mark_reachable();

  // The intern tables are weak: drop the entries of unmarked symbols while
  // their names are still intact.
  symbols_.remove_unmarked();
  keywords_.remove_unmarked();

  // Sweep: only what cannot wait (see sweep_class()). The live figures are
  // counted afresh from the marks.
  stats_.bytes_live = 0;
  stats_.objects_live = 0;
  for (size_t c = 0; c < kNumClasses; c++) {
    sweep_class(c);
  }
  sweep_large();
  pages_.trim(kMaxSparePages);
  std::fill(std::begin(entered_), std::end(entered_), 0);

  stats_.collections++;
  live_after_gc_ = stats_.bytes_live;
  next_collection_ = stats_.bytes_live + (stress_ ? 1 : std::max(kMinThreshold, stats_.bytes_live));
  uint64_t took_ns = uv_hrtime() - started_ns;
  stats_.collection_ns_total += took_ns;
  stats_.collection_ns_longest = std::max(stats_.collection_ns_longest, took_ns);
}

}  // namespace valk::lisp
