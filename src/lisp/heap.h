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
#include <unordered_map>
#include <vector>

#include "lisp/object.h"
#include "lisp/value.h"

namespace valk::lisp {

// Marks objects reachable from a root; used by root providers and by the
// trace functions of object classes.
class Tracer {
 public:
  void mark(Value v) {
    if (v.is_heap()) {
      mark(v.o);
    }
  }
  void mark(Obj* o) {
    if (o != nullptr && !o->marked) {
      o->marked = 1;
      gray_.push_back(o);
    }
  }

 private:
  friend class Heap;
  std::vector<Obj*> gray_;
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

struct HeapStats {
  size_t bytes_live = 0;  // bytes allocated and not yet freed
  size_t objects_live = 0;
  size_t bytes_high_water = 0;
  uint64_t collections = 0;
  uint64_t bytes_allocated_total = 0;
};

class Heap {
 public:
  Heap();
  ~Heap();
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  // Allocates a T of `sizeof(T) + extra` bytes, value-initialised, with the
  // header set to `type`. Never returns null (allocation failure aborts:
  // the isolate cannot continue without memory).
  template <class T>
  T* make(Tag type, size_t extra = 0) {
    void* mem = allocate(sizeof(T) + extra);
    T* o = new (mem) T();
    o->type = type;
    link(o, sizeof(T) + extra);
    return o;
  }

  // Allocates a ClassObj-derived object of class `cls`.
  template <class T>
  T* make_class(Tag type, const ObjClass* cls, size_t extra = 0) {
    T* o = make<T>(type, extra);
    o->cls = cls;
    return o;
  }

  String* make_string(std::string_view s);
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
  bool should_collect() const { return bytes_since_gc_ >= threshold_; }
  void collect();
  // Stress mode: collect at every safe point that follows an allocation.
  void set_stress(bool on);
  bool stress() const { return stress_; }
  const HeapStats& stats() const { return stats_; }

 private:
  void* allocate(size_t size);
  void link(Obj* o, size_t size);
  void trace(Obj* o, Tracer& t);
  void destroy(Obj* o);
  Symbol* intern(std::unordered_map<std::string_view, Symbol*>& table, Tag type,
                 std::string_view name);

  Obj* objects_ = nullptr;
  size_t bytes_since_gc_ = 0;
  size_t threshold_;
  bool stress_ = false;
  HeapStats stats_;
  std::function<void(Tracer&)> root_marker_;
  // Weak: entries of unmarked symbols are removed by the sweep.
  std::unordered_map<std::string_view, Symbol*> symbols_;
  std::unordered_map<std::string_view, Symbol*> keywords_;
  std::unordered_map<const Obj*, SourcePos> positions_;
  std::vector<std::string> file_names_;
};

}  // namespace valk::lisp
