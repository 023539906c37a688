// valk Lisp values.
//
// A Value is 16 bytes: a payload word and a tag. Integers (full 64-bit),
// doubles, booleans and nil are immediate; everything else points at a heap
// object owned by the isolate's garbage-collected Heap. The tag of a heap
// value always equals the object's `type`, so type tests never load memory.
//
// The empty list is the immediate `Tag::List` with a null pointer: `()` is
// not nil, as in Clojure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace valk::lisp {

enum class Tag : uint8_t {
  // Immediates.
  Nil,
  Bool,
  Int,
  Double,
  // Control sentinels returned by natives; never stored in a data structure.
  Exception,  // the fiber's pending error is set
  Park,       // the fiber parked; it resumes with a value delivered later
  TailCall,   // the fiber's tail-call request (callee + args) is set
  // Heap objects. Keep List first: kFirstHeapTag relies on it.
  List,  // a Cons cell, or the empty list when the pointer is null
  String,
  Symbol,
  Keyword,
  Vector,
  Map,
  Set,
  Bytes,
  Proto,
  Closure,
  Native,
  Var,
  Atom,
  Error,
  Promise,
  Fiber,
  Internal,  // C++-only helper objects (HAMT nodes, vector trie nodes, ...)
};

constexpr Tag kFirstHeapTag = Tag::List;

struct Obj;

struct Value {
  union {
    int64_t i;
    double d;
    bool b;
    Obj* o;
  };
  Tag tag;
  // Zero with every tag written, so that a Value is stored as two whole
  // words. Copies load the tag's word whole; after a store of the tag byte
  // alone, that load could not be forwarded from the store and stalled
  // (the VM's operand stack: a push, then the next instruction's pop).
  // Scalars, not an array, so that GCC keeps a Value in registers and
  // merges the tag and these into one 8-byte store.
  uint8_t pad1_ = 0;
  uint16_t pad2_ = 0;
  uint32_t pad4_ = 0;

  constexpr Value() : i(0), tag(Tag::Nil) {}

  static constexpr Value nil() { return Value(); }
  static constexpr Value boolean(bool v) {
    Value r;
    r.i = 0;
    r.b = v;
    r.tag = Tag::Bool;
    return r;
  }
  static constexpr Value integer(int64_t v) {
    Value r;
    r.i = v;
    r.tag = Tag::Int;
    return r;
  }
  static Value number(double v) {
    Value r;
    r.d = v;
    r.tag = Tag::Double;
    return r;
  }
  static constexpr Value sentinel(Tag t) {
    Value r;
    r.tag = t;
    return r;
  }
  static constexpr Value empty_list() {
    Value r;
    r.o = nullptr;
    r.tag = Tag::List;
    return r;
  }
  // Wraps a heap object; `t` must equal o->type.
  static Value object(Obj* o, Tag t) {
    Value r;
    r.o = o;
    r.tag = t;
    return r;
  }

  bool is_nil() const { return tag == Tag::Nil; }
  bool is_int() const { return tag == Tag::Int; }
  bool is_double() const { return tag == Tag::Double; }
  bool is_number() const { return tag == Tag::Int || tag == Tag::Double; }
  bool is(Tag t) const { return tag == t; }
  // Only nil and false are falsy.
  bool truthy() const { return !(tag == Tag::Nil || (tag == Tag::Bool && !b)); }
  // True for values that point at a heap object (the empty list does not).
  bool is_heap() const { return tag >= kFirstHeapTag && o != nullptr; }
  bool is_sentinel() const {
    return tag == Tag::Exception || tag == Tag::Park || tag == Tag::TailCall;
  }
};

static_assert(sizeof(Value) == 16);

// Identity: same tag and same payload bits (doubles compare bitwise).
inline bool identical(Value a, Value b) {
  return a.tag == b.tag && a.i == b.i;
}

// Structural equality (Clojure `=`): lists and vectors with equal elements
// are equal; 1 and 1.0 are not. Defined in equality.cc.
bool equal(Value a, Value b);

// A hash consistent with `equal`. Defined in equality.cc.
uint64_t hash(Value v);

// Name of a tag for error messages ("int", "string", "map", ...).
std::string_view type_name(Value v);

}  // namespace valk::lisp
