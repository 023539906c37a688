// The embedding API (include/valk/valk.h) over the interpreter's isolate.
#include <string>

#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"
#include "valk/valk.h"

namespace valk {

using lisp::Isolate;
using lisp::Tag;
using LValue = lisp::Value;

// Converts between handles and raw values.
struct ValueAccess {
  static LValue raw(const Value& v) {
    return v.rt_ == nullptr ? LValue::nil() : v.rt_->iso_->rooted(v.slot_);
  }
  static Value make(Runtime* rt, LValue v) { return Value(rt, rt->iso_->root(v)); }
  static Resolver resolver(Value promise) { return Resolver(std::move(promise)); }
};

namespace {

LValue raw(const Value& v) {
  return ValueAccess::raw(v);
}

Error to_error(Runtime* rt, LValue raised) {
  Isolate& iso = rt->isolate();
  Error e;
  e.value = ValueAccess::make(rt, raised);
  e.report = iso.describe(raised);
  if (raised.is(Tag::Error)) {
    auto* err = static_cast<lisp::Error*>(raised.o);
    e.message = lisp::print_str(err->message, false);
    LValue type;
    if (err->data.is(Tag::Map) && lisp::map_find(err->data, iso.heap().keyword("type"), &type) &&
        type.is(Tag::Keyword)) {
      e.type = std::string(static_cast<lisp::Symbol*>(type.o)->name->view());
    }
  } else {
    e.message = lisp::print_str(raised, true);
  }
  return e;
}

Result<Value> to_result(Runtime* rt, const lisp::EvalResult& r) {
  if (r.ok) {
    return ValueAccess::make(rt, r.value);
  }
  return to_error(rt, r.value);
}

// Natives defined through the API find their std::function in Native::data
// and their Runtime in the isolate's embedder slot.
LValue call_function(Isolate& iso, LValue* args, int argc) {
  auto* rt = static_cast<Runtime*>(iso.embedder);
  auto* fn = static_cast<Runtime::Function*>(iso.current_native()->data);
  std::vector<Value> handles;
  handles.reserve(argc);
  for (int i = 0; i < argc; i++) {
    handles.push_back(ValueAccess::make(rt, args[i]));
  }
  Result<Value> r = (*fn)(*rt, handles);
  if (r.ok()) {
    return raw(r.value());
  }
  return iso.raise(raw(r.error().value));
}

LValue call_async_function(Isolate& iso, LValue* args, int argc) {
  auto* rt = static_cast<Runtime*>(iso.embedder);
  auto* fn = static_cast<Runtime::AsyncFunction*>(iso.current_native()->data);
  std::vector<Value> handles;
  handles.reserve(argc);
  for (int i = 0; i < argc; i++) {
    handles.push_back(ValueAccess::make(rt, args[i]));
  }
  lisp::Promise* p = iso.make_promise();
  Value promise = ValueAccess::make(rt, val(p));
  (*fn)(*rt, handles, ValueAccess::resolver(std::move(promise)));
  return val(p);
}

}  // namespace

// ---- Value --------------------------------------------------------------------

Value::Value(const Value& other) : rt_(other.rt_) {
  if (rt_ != nullptr) {
    slot_ = rt_->iso_->root(rt_->iso_->rooted(other.slot_));
  }
}

Value::Value(Value&& other) noexcept : rt_(other.rt_), slot_(other.slot_) {
  other.rt_ = nullptr;
}

Value& Value::operator=(const Value& other) {
  if (this != &other) {
    Value copy(other);
    *this = std::move(copy);
  }
  return *this;
}

Value& Value::operator=(Value&& other) noexcept {
  if (this != &other) {
    if (rt_ != nullptr) {
      rt_->iso_->unroot(slot_);
    }
    rt_ = other.rt_;
    slot_ = other.slot_;
    other.rt_ = nullptr;
  }
  return *this;
}

Value::~Value() {
  if (rt_ != nullptr) {
    rt_->iso_->unroot(slot_);
  }
}

Value::Kind Value::kind() const {
  switch (raw(*this).tag) {
    case Tag::Nil:
      return Kind::Nil;
    case Tag::Bool:
      return Kind::Bool;
    case Tag::Int:
      return Kind::Int;
    case Tag::Double:
      return Kind::Double;
    case Tag::String:
      return Kind::String;
    case Tag::Symbol:
      return Kind::Symbol;
    case Tag::Keyword:
      return Kind::Keyword;
    case Tag::List:
      return Kind::List;
    case Tag::Vector:
      return Kind::Vector;
    case Tag::Map:
      return Kind::Map;
    case Tag::Set:
      return Kind::Set;
    case Tag::Closure:
    case Tag::Native:
      return Kind::Function;
    default:
      return Kind::Other;
  }
}

bool Value::truthy() const {
  return raw(*this).truthy();
}

std::optional<bool> Value::as_bool() const {
  LValue v = raw(*this);
  return v.is(Tag::Bool) ? std::optional<bool>(v.b) : std::nullopt;
}

std::optional<int64_t> Value::as_int() const {
  LValue v = raw(*this);
  return v.is_int() ? std::optional<int64_t>(v.i) : std::nullopt;
}

std::optional<double> Value::as_double() const {
  LValue v = raw(*this);
  if (v.is_int()) {
    return static_cast<double>(v.i);
  }
  return v.is_double() ? std::optional<double>(v.d) : std::nullopt;
}

std::optional<std::string> Value::as_string() const {
  LValue v = raw(*this);
  if (v.is(Tag::String)) {
    return std::string(static_cast<lisp::String*>(v.o)->view());
  }
  if (v.is(Tag::Symbol) || v.is(Tag::Keyword)) {
    return std::string(static_cast<lisp::Symbol*>(v.o)->name->view());
  }
  return std::nullopt;
}

size_t Value::size() const {
  LValue v = raw(*this);
  switch (v.tag) {
    case Tag::String:
      return static_cast<lisp::String*>(v.o)->char_count;
    case Tag::List:
      return v.o == nullptr ? 0 : static_cast<size_t>(static_cast<lisp::Cons*>(v.o)->count);
    case Tag::Vector:
      return lisp::vector_count(v);
    case Tag::Map:
      return lisp::map_count(v);
    case Tag::Set:
      return lisp::set_count(v);
    default:
      return 0;
  }
}

Value Value::at(size_t i) const {
  LValue v = raw(*this);
  LValue out;
  if (v.is(Tag::Vector) && i < lisp::vector_count(v)) {
    out = lisp::vector_nth(v, i);
  } else if (v.is(Tag::List)) {
    for (LValue c = v; c.o != nullptr; c = static_cast<lisp::Cons*>(c.o)->rest, i--) {
      if (i == 0) {
        out = static_cast<lisp::Cons*>(c.o)->first;
        break;
      }
    }
  }
  return rt_ == nullptr ? Value() : ValueAccess::make(rt_, out);
}

Value Value::get(std::string_view key) const {
  LValue v = raw(*this);
  LValue out;
  if (rt_ == nullptr) {
    return Value();
  }
  if (v.is(Tag::Map)) {
    lisp::map_find(v, rt_->iso_->heap().keyword(key), &out);
  }
  return ValueAccess::make(rt_, out);
}

std::string Value::to_string() const {
  return lisp::print_str(raw(*this), true);
}

// ---- Resolver -----------------------------------------------------------------

Resolver::Resolver(Resolver&& other) noexcept : promise_(std::move(other.promise_)) {}

Resolver::~Resolver() {
  if (!promise_.is_nil()) {
    reject("the operation was dropped");
  }
}

void Resolver::resolve(const Value& v) {
  if (promise_.is_nil()) {
    return;
  }
  Isolate& iso = promise_.rt_->isolate();
  iso.resolve(static_cast<lisp::Promise*>(raw(promise_).o), raw(v));
  promise_ = Value();
}

void Resolver::reject(std::string_view message) {
  if (promise_.is_nil()) {
    return;
  }
  Runtime* rt = promise_.rt_;
  Error e = rt->error("native-error", message);
  rt->isolate().reject(static_cast<lisp::Promise*>(raw(promise_).o), raw(e.value));
  promise_ = Value();
}

// ---- Runtime ------------------------------------------------------------------

Runtime::Runtime(RuntimeOptions options) {
  lisp::IsolateOptions o;
  o.module_paths = std::move(options.module_paths);
  o.gc_stress = options.gc_stress;
  iso_ = std::make_unique<Isolate>(std::move(o));
  iso_->embedder = this;
}

Runtime::~Runtime() = default;

Result<Value> Runtime::eval(std::string_view source, std::string_view file_name) {
  return to_result(this, iso_->eval_string(source, file_name));
}

Result<Value> Runtime::eval_file(const std::string& path) {
  return to_result(this, iso_->eval_file(path));
}

Result<Value> Runtime::call(const Value& fn, std::span<const Value> args) {
  std::vector<LValue> raw_args;
  raw_args.reserve(args.size());
  for (const Value& a : args) {
    raw_args.push_back(raw(a));
  }
  return to_result(this, iso_->call(raw(fn), raw_args.data(), raw_args.size()));
}

Value Runtime::global(std::string_view name) {
  lisp::Var* v = iso_->var(name);
  return ValueAccess::make(this, v->defined ? v->value : LValue::nil());
}

void Runtime::define(std::string_view name, const Value& value) {
  iso_->define(name, raw(value));
}

void Runtime::define_function(std::string_view name, int min_args, int max_args, Function fn) {
  functions_.push_back(std::make_unique<Function>(std::move(fn)));
  iso_->define_native(name, call_function, min_args, max_args, functions_.back().get());
}

void Runtime::define_async_function(std::string_view name, int min_args, int max_args,
                                    AsyncFunction fn) {
  async_functions_.push_back(std::make_unique<AsyncFunction>(std::move(fn)));
  iso_->define_native(name, call_async_function, min_args, max_args, async_functions_.back().get());
}

Value Runtime::nil() {
  return ValueAccess::make(this, LValue::nil());
}
Value Runtime::boolean(bool b) {
  return ValueAccess::make(this, LValue::boolean(b));
}
Value Runtime::integer(int64_t i) {
  return ValueAccess::make(this, LValue::integer(i));
}
Value Runtime::number(double d) {
  return ValueAccess::make(this, LValue::number(d));
}
Value Runtime::string(std::string_view s) {
  return ValueAccess::make(this, iso_->heap().string(s));
}
Value Runtime::keyword(std::string_view name) {
  return ValueAccess::make(this, iso_->heap().keyword(name));
}
Value Runtime::symbol(std::string_view name) {
  return ValueAccess::make(this, iso_->heap().symbol(name));
}

Value Runtime::vector(std::span<const Value> items) {
  std::vector<LValue> raw_items;
  for (const Value& v : items) {
    raw_items.push_back(raw(v));
  }
  return ValueAccess::make(this,
                           lisp::vector_from(iso_->heap(), raw_items.data(), raw_items.size()));
}

Value Runtime::map(std::span<const Value> keys_and_values) {
  std::vector<LValue> raw_items;
  for (const Value& v : keys_and_values) {
    raw_items.push_back(raw(v));
  }
  return ValueAccess::make(this,
                           lisp::map_from(iso_->heap(), raw_items.data(), raw_items.size() / 2));
}

Error Runtime::error(std::string_view type, std::string_view message) {
  lisp::Heap& h = iso_->heap();
  LValue data[2] = {h.keyword("type"), h.keyword(type)};
  lisp::Error* e = iso_->make_error(h.string(message), lisp::map_from(h, data, 1));
  return to_error(this, val(e));
}

uv_loop_t* Runtime::loop() {
  return iso_->loop();
}

const char* version() {
  return VALK_VERSION;
}

}  // namespace valk
