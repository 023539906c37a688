// Maps with a fixed key set, made by copying a prototype (see MapTemplate in
// collections.h).
#include <vector>

#include "lisp/collections.h"
#include "lisp/collections_internal.h"

namespace valk::lisp {

namespace {

// Templates with more objects than this (large or unlucky key sets) fall
// back to map_from.
constexpr uint32_t kTemplateObjects = 16;

}  // namespace

MapTemplate::MapTemplate(Heap& heap, const Value* keys, size_t n) : keys_(keys, keys + n) {
  std::vector<Value> kvs(2 * n);
  for (size_t i = 0; i < n; i++) {
    kvs[2 * i] = keys[i];
  }
  proto_ = map_from(heap, kvs.data(), n);
  std::vector<Obj*> objects;
  map_each_object(proto_.o, [&](Obj* o) { objects.push_back(o); });
  objects_ = static_cast<uint32_t>(objects.size());
  for (size_t i = 0; i < n; i++) {
    for (uint32_t at = 0; at < objects.size(); at++) {
      uint32_t len;
      Value* kv = map_object_entries(objects[at], &len);
      for (uint32_t e = 0; e < len; e++) {
        if (identical(kv[2 * e], keys[i])) {
          auto offset =
              reinterpret_cast<char*>(&kv[2 * e + 1]) - reinterpret_cast<char*>(objects[at]);
          slots_.push_back({at, static_cast<uint32_t>(offset)});
        }
      }
    }
  }
}

Value MapTemplate::make(Heap& heap, const Value* values) const {
  if (objects_ > kTemplateObjects) {
    std::vector<Value> kvs(2 * keys_.size());
    for (size_t i = 0; i < keys_.size(); i++) {
      kvs[2 * i] = keys_[i];
      kvs[2 * i + 1] = values[i];
    }
    return map_from(heap, kvs.data(), keys_.size());
  }
  Obj* copies[kTemplateObjects];
  uint32_t count = 0;
  Obj* root = map_clone_objects(heap, proto_.o, copies, &count);
  // A copy has its prototype object's layout, so each value goes at the
  // offset it has there.
  for (size_t i = 0; i < slots_.size(); i++) {
    char* object = reinterpret_cast<char*>(copies[slots_[i].object]);
    *reinterpret_cast<Value*>(object + slots_[i].offset) = values[i];
  }
  return Value::object(root, proto_.tag);
}

}  // namespace valk::lisp
