#include "lisp/heap.h"

#include <malloc.h>

#include <algorithm>
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

Heap::Heap() : next_collection_(kMinThreshold) {
  file_names_.emplace_back("?");
}

Heap::~Heap() {
  for (size_t c = 0; c < kNumClasses; c++) {
    SizeClass& sc = classes_[c];
    size_t cell = (c + 1) * kGranule;
    for (char* page : sc.pages) {
      char* limit =
          page == sc.pages.back() && sc.bump != nullptr ? sc.bump : page_limit(page, cell);
      for (char* p = page; p < limit; p += cell) {
        auto* o = reinterpret_cast<Obj*>(p);
        if (o->type != Tag::Nil) {
          destroy(o);
        }
      }
      unpoison(page, kPageSize);
    }
  }
  for (Obj* o : large_) {
    destroy(o);
    free(o);
  }
}

// ---------------------------------------------------------------------------
// Allocation

char* Heap::page_limit(char* page, size_t cell) {
  return page + kPageSize / cell * cell;
}

char* Heap::new_page() {
  char* page = pages_.take();
  poison(page, kPageSize);
  stats_.bytes_in_pages += kPageSize;
  return page;
}

void Heap::release_page(char* page) {
  stats_.bytes_in_pages -= kPageSize;
  unpoison(page, kPageSize);
  pages_.give(page);
}

void* Heap::allocate_from_new_page(size_t c) {
  SizeClass& sc = classes_[c];
  size_t cell = (c + 1) * kGranule;
  char* page = new_page();
  sc.pages.push_back(page);
  sc.bump = page + cell;
  sc.bump_end = page_limit(page, cell);
  unpoison(page, cell);
  return page;
}

void* Heap::allocate_large(size_t size) {
  void* mem = malloc(size);
  if (mem == nullptr) {
    fprintf(stderr, "valk: out of memory allocating %zu bytes\n", size);
    abort();
  }
  stats_.bytes_live += malloc_usable_size(mem);
  stats_.objects_live++;
  large_.push_back(static_cast<Obj*>(mem));
  return mem;
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
  memcpy(str->data, s.data(), s.size());
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
  s.bytes_allocated_total = allocated_before_gc_ + (s.bytes_live - live_after_gc_);
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
    if (slot.sym != nullptr && !slot.sym->marked) {
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

// A dead object's destructor runs before its cell is reused. Destructors
// (ObjClass::destroy included) release C++ storage only and never read
// other heap objects, which may be dead in the same sweep.
void Heap::finalize(Obj* o) {
  if (o->flags & kHasSourcePos) {
    positions_.erase(o);
  }
  destroy(o);
}

void Heap::sweep_class(size_t c) {
  SizeClass& sc = classes_[c];
  size_t cell = (c + 1) * kGranule;
  FreeCell** tail = &sc.free;
  size_t kept = 0;
  for (char* page : sc.pages) {
    bool bump_page = page == sc.pages.back() && sc.bump != nullptr;
    char* limit = bump_page ? sc.bump : page_limit(page, cell);
    // The page's free cells, in address order, spliced onto the class's
    // list unless the page turns out empty.
    FreeCell* head = nullptr;
    FreeCell** page_tail = &head;
    size_t live = 0;
    for (char* p = page; p < limit; p += cell) {
      auto* o = reinterpret_cast<Obj*>(p);
      if (o->type != Tag::Nil) {
        if (o->marked) {
          o->marked = 0;
          live++;
          continue;
        }
        // Most garbage (strings, conses, maps, closures) has nothing to
        // finalize: one test of the header skips the call.
        if (o->flags & (kHasSourcePos | kHasDestructor)) {
          finalize(o);
        }
        stats_.bytes_live -= cell;
        stats_.objects_live--;
        o->type = Tag::Nil;
        poison(p + sizeof(FreeCell), cell - sizeof(FreeCell));
      }
      auto* f = static_cast<FreeCell*>(o);
      *page_tail = f;
      page_tail = &f->next;
    }
    *page_tail = nullptr;
    if (live == 0 && !bump_page) {
      release_page(page);
      continue;
    }
    sc.pages[kept++] = page;
    if (head != nullptr) {
      *tail = head;
      tail = page_tail;
    }
  }
  *tail = nullptr;
  sc.pages.resize(kept);
}

void Heap::sweep_large() {
  size_t kept = 0;
  for (Obj* o : large_) {
    if (o->marked) {
      o->marked = 0;
      large_[kept++] = o;
      continue;
    }
    finalize(o);
    stats_.bytes_live -= malloc_usable_size(o);
    stats_.objects_live--;
    free(o);
  }
  large_.resize(kept);
}

// Marks everything reachable from the roots. Tracer::mark() only pushes a
// reference (strings and byte buffers, which reference nothing, are marked
// on the spot); the object is read when it leaves a small window that
// prefetched it kAhead pops earlier. Between two collections the mutator
// allocates several times the size of the cache, so the live objects are
// cold, and loading each one when its reference is found would take their
// cache misses one at a time.
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
    while (n < kAhead && !t.gray_.empty()) {
      Obj* o = t.gray_.back();
      t.gray_.pop_back();
      __builtin_prefetch(o, 1);
      window[(head + n) % kAhead] = o;
      n++;
    }
    if (n == 0) {
      return;
    }
    Obj* o = window[head];
    head = (head + 1) % kAhead;
    n--;
    if (!o->marked) {
      o->marked = 1;
      trace(o, t);
    }
  }
}

void Heap::collect() {
  stats_.bytes_high_water = std::max(stats_.bytes_high_water, stats_.bytes_live);
  allocated_before_gc_ += stats_.bytes_live - live_after_gc_;

  mark_reachable();

  // The intern tables are weak: drop the entries of unmarked symbols while
  // their names are still intact.
  symbols_.remove_unmarked();
  keywords_.remove_unmarked();

  // Sweep: free every unmarked object, clearing the marks of the survivors
  // for the next cycle.
  for (size_t c = 0; c < kNumClasses; c++) {
    sweep_class(c);
  }
  sweep_large();
  pages_.trim(kMaxSparePages);

  stats_.collections++;
  live_after_gc_ = stats_.bytes_live;
  next_collection_ = stats_.bytes_live + (stress_ ? 1 : std::max(kMinThreshold, stats_.bytes_live));
}

}  // namespace valk::lisp
