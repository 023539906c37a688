// Layouts of the heap objects shared by the whole interpreter.
//
// Every heap object starts with an Obj header. Objects are allocated by
// Heap::make<T>() and freed only by the collector; C++ code never deletes
// them. Collections (vector, map, set) have their own headers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lisp/value.h"

namespace valk::lisp {

class Heap;
class Tracer;

// The 8-byte header. The collector finds objects through its pages (see
// heap.h), so the header holds no list link.
struct Obj {
  Tag type;
  uint8_t marked = 0;  // large objects only: small ones are marked in their page
  uint8_t flags = 0;   // ObjFlag bits
  uint32_t aux = 0;    // a small field each type may use as it likes
};

enum ObjFlag : uint8_t {
  kHasSourcePos = 1,   // Heap::source_positions has an entry for this object
  kHasDestructor = 2,  // Heap::destroy has C++ storage of it to release
};

template <class T>
inline Value val(T* o) {
  return Value::object(o, o->type);
}

// Immutable UTF-8 text. `aux` holds nothing; the length in code points is
// cached because `count` and `subs` are defined on code points.
struct String : Obj {
  uint32_t size;        // bytes
  uint32_t char_count;  // code points
  uint64_t hash_code;   // 0 until computed
  char data[1];         // `size` bytes plus a terminating NUL

  std::string_view view() const { return {data, size}; }
  bool is_ascii() const { return size == char_count; }
};

// Symbols and keywords are interned per heap: equal names give the same
// object, so identity is equality.
struct Symbol : Obj {
  String* name;
};
using Keyword = Symbol;  // same layout, type Tag::Keyword

// An immutable list cell. `rest` is always a list (a Cons or the empty
// list), so `count` is stored and O(1).
struct Cons : Obj {
  Value first;
  Value rest;
  int64_t count;
};

struct Bytes : Obj {
  uint32_t size;
  uint8_t data[1];

  std::string_view view() const { return {reinterpret_cast<const char*>(data), size}; }
};

// The bytes of a string or of bytes, what natives that send or store data
// take; false for any other value.
inline bool text_or_bytes(Value v, std::string_view* out) {
  if (v.is(Tag::String)) {
    *out = static_cast<String*>(v.o)->view();
  } else if (v.is(Tag::Bytes)) {
    *out = static_cast<Bytes*>(v.o)->view();
  } else {
    return false;
  }
  return true;
}

struct Atom : Obj {
  Value value;
};

// A global variable. Globals are resolved to their Var at compile time, so
// a global read is one load.
struct Var : Obj {
  Symbol* name;
  Value value;
  bool defined = false;
  bool is_macro = false;
};

struct SourcePos {
  uint32_t file = 0;  // index into Heap::file_names(); 0 means unknown
  uint32_t line = 0;
  uint32_t column = 0;
};

struct TraceEntry {
  std::string function;
  SourcePos pos;
};

// An error value: raised by `error`, by runtime faults (type, arity,
// overflow, unbound symbol) and by the reader. `data` is a map or nil; for
// runtime faults it holds `:type`.
struct Error : Obj {
  Value message;                  // a String
  Value data;                     // a Map or nil
  std::vector<TraceEntry> trace;  // innermost first
};

class Isolate;

// A native function: receives its arguments in `args[0..argc)` (which stay
// valid and rooted for the call) and returns a value, or a sentinel:
// Tag::Exception after Isolate::raise(), Tag::Park after parking the
// current fiber, Tag::TailCall after Isolate::tail_call().
using NativeFn = Value (*)(Isolate& iso, Value* args, int argc);

struct Native : Obj {
  NativeFn fn;
  String* name;
  int16_t min_args;
  int16_t max_args;  // -1: variadic
  void* data;        // for natives defined by an embedder
};

}  // namespace valk::lisp
