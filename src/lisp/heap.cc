#include "lisp/heap.h"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "lisp/fiber.h"
#include "lisp/function.h"
#include "lisp/utf8.h"

namespace valk::lisp {

namespace {
constexpr size_t kMinThreshold = 4 << 20;
}

Heap::Heap() : threshold_(kMinThreshold) {
  file_names_.emplace_back("?");
}

Heap::~Heap() {
  Obj* o = objects_;
  while (o != nullptr) {
    Obj* next = o->gc_next;
    destroy(o);
    free(o);
    o = next;
  }
}

void* Heap::allocate(size_t size) {
  void* mem = malloc(size);
  if (mem == nullptr) {
    fprintf(stderr, "valk: out of memory allocating %zu bytes\n", size);
    abort();
  }
  return mem;
}

void Heap::link(Obj* o, size_t size) {
  size_t real = malloc_usable_size(o);
  (void)size;
  o->gc_next = objects_;
  objects_ = o;
  bytes_since_gc_ += real;
  stats_.bytes_live += real;
  stats_.objects_live++;
  stats_.bytes_allocated_total += real;
  if (stats_.bytes_live > stats_.bytes_high_water) {
    stats_.bytes_high_water = stats_.bytes_live;
  }
}

String* Heap::make_string(std::string_view s) {
  String* str = make<String>(Tag::String, s.size());
  str->size = static_cast<uint32_t>(s.size());
  str->char_count = static_cast<uint32_t>(utf8_count(s));
  str->hash_code = 0;
  memcpy(str->data, s.data(), s.size());
  str->data[s.size()] = '\0';
  return str;
}

Symbol* Heap::intern(std::unordered_map<std::string_view, Symbol*>& table, Tag type,
                     std::string_view name) {
  auto it = table.find(name);
  if (it != table.end()) {
    return it->second;
  }
  String* s = make_string(name);
  Symbol* sym = make<Symbol>(type);
  sym->name = s;
  table.emplace(s->view(), sym);
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
  threshold_ = on ? 1 : kMinThreshold;
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

void Heap::collect() {
  Tracer t;
  if (root_marker_) {
    root_marker_(t);
  }
  while (!t.gray_.empty()) {
    Obj* o = t.gray_.back();
    t.gray_.pop_back();
    trace(o, t);
  }

  // Sweep: unlink and free every unmarked object, clearing the marks of the
  // survivors for the next cycle.
  Obj** link = &objects_;
  while (*link != nullptr) {
    Obj* o = *link;
    if (o->marked) {
      o->marked = 0;
      link = &o->gc_next;
      continue;
    }
    *link = o->gc_next;
    // A symbol is always allocated after its name, so it comes earlier in
    // the (newest-first) list and its name is still readable here.
    if (o->type == Tag::Symbol) {
      symbols_.erase(static_cast<Symbol*>(o)->name->view());
    } else if (o->type == Tag::Keyword) {
      keywords_.erase(static_cast<Symbol*>(o)->name->view());
    }
    if (o->flags & kHasSourcePos) {
      positions_.erase(o);
    }
    size_t size = malloc_usable_size(o);
    stats_.bytes_live -= size;
    stats_.objects_live--;
    destroy(o);
    free(o);
  }
  stats_.collections++;
  bytes_since_gc_ = 0;
  if (!stress_) {
    threshold_ = std::max(kMinThreshold, stats_.bytes_live);
  }
}

}  // namespace valk::lisp
