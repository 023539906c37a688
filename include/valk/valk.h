// libvalk: embedding valk Lisp in a C++ program.
//
// A valk::Runtime is one isolate: a garbage-collected Lisp heap, its global
// definitions, its fibers and the libuv loop that schedules them. Everything
// about a Runtime (and the Values it made) belongs to the thread that
// created it; nothing here is thread-safe.
//
// C++ holds Lisp values only through valk::Value, a rooted handle: while a
// Value exists, the collector keeps what it refers to alive.
//
// Errors never throw: operations that run Lisp return a valk::Result, which
// holds either a Value or a valk::Error with the Lisp message, the error's
// :type and its stack trace with file:line:column.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace valk {

class Runtime;

namespace lisp {
class Isolate;
}

// A rooted handle to a Lisp value. Copying a Value roots the copy too. A
// default-constructed Value is nil and belongs to no runtime. A Value must
// not outlive its Runtime.
class Value {
 public:
  enum class Kind {
    Nil,
    Bool,
    Int,
    Double,
    String,
    Symbol,
    Keyword,
    List,
    Vector,
    Map,
    Set,
    Function,
    Other
  };

  Value() = default;
  Value(const Value& other);
  Value(Value&& other) noexcept;
  Value& operator=(const Value& other);
  Value& operator=(Value&& other) noexcept;
  ~Value();

  Kind kind() const;
  bool is_nil() const { return kind() == Kind::Nil; }
  // Only nil and false are falsy.
  bool truthy() const;

  // Each returns nothing when the value has another type.
  std::optional<bool> as_bool() const;
  std::optional<int64_t> as_int() const;
  std::optional<double> as_double() const;  // ints convert
  // The text of a string, or the name of a symbol or keyword.
  std::optional<std::string> as_string() const;

  // Number of elements of a list, vector, map or set; of code points of a
  // string; 0 for anything else.
  size_t size() const;
  // Element i of a list or vector (nil if out of range or not sequential).
  Value at(size_t i) const;
  // Value under keyword `key` (`(get m :key)`) of a map; nil if absent.
  Value get(std::string_view key) const;

  // The readable printed form, as `pr-str` makes it.
  std::string to_string() const;

 private:
  friend class Runtime;
  friend class Resolver;
  friend struct ValueAccess;
  Value(Runtime* rt, uint32_t slot) : rt_(rt), slot_(slot) {}
  Runtime* rt_ = nullptr;
  uint32_t slot_ = 0;
};

// A raised Lisp value, described.
struct Error {
  std::string message;  // the error message (or the printed raised value)
  std::string type;     // the :type of the error's data, without the colon; may be empty
  std::string report;   // message plus the Lisp stack trace, one frame a line
  Value value;          // what was raised
};

// Either a Value or an Error.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  // Requires ok().
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  // Requires !ok().
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Completes the promise an async native returned. Call resolve() or
// reject() once, on the runtime's thread (typically from a callback of
// Runtime::loop()); later calls are ignored. A Resolver that is destroyed
// without completing rejects the promise with "the operation was dropped".
class Resolver {
 public:
  Resolver(Resolver&& other) noexcept;
  Resolver& operator=(Resolver&&) = delete;
  Resolver(const Resolver&) = delete;
  ~Resolver();
  void resolve(const Value& v);
  void reject(std::string_view message);

 private:
  friend struct ValueAccess;
  explicit Resolver(Value promise) : promise_(std::move(promise)) {}
  Value promise_;
};

struct RuntimeOptions {
  // Directories searched by (import "name") before the standard library.
  std::vector<std::string> module_paths;
  // Collect garbage at every safe point (slow; for testing embedders).
  bool gc_stress = false;
};

class Runtime {
 public:
  // A leaf native: runs to completion without calling Lisp. Returning an
  // Error raises it in the calling Lisp code.
  using Function = std::function<Result<Value>(Runtime& rt, std::span<const Value> args)>;
  // An async native: the Lisp caller receives a promise, which `resolver`
  // completes later; the caller may `await` it.
  using AsyncFunction =
      std::function<void(Runtime& rt, std::span<const Value> args, Resolver resolver)>;

  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Reads and evaluates every form; returns the value of the last one.
  // Runs the loop until the evaluation (including what it awaits) is done.
  Result<Value> eval(std::string_view source, std::string_view file_name = "<eval>");
  Result<Value> eval_file(const std::string& path);
  // Calls a Lisp function (or anything callable) in a new fiber and runs the
  // loop until it returns.
  Result<Value> call(const Value& fn, std::span<const Value> args = {});
  // The value of a global definition; nil if it is not defined.
  Value global(std::string_view name);
  void define(std::string_view name, const Value& value);

  // Defines a native function named `name`. `min_args`..`max_args` is the
  // accepted argument count (max_args -1: any number); calls outside it get
  // an arity error without reaching `fn`.
  void define_function(std::string_view name, int min_args, int max_args, Function fn);
  void define_async_function(std::string_view name, int min_args, int max_args, AsyncFunction fn);

  // Making values.
  Value nil();
  Value boolean(bool b);
  Value integer(int64_t i);
  Value number(double d);
  Value string(std::string_view s);
  Value keyword(std::string_view name);  // without the colon
  Value symbol(std::string_view name);
  Value vector(std::span<const Value> items);
  // A map from alternating keys and values.
  Value map(std::span<const Value> keys_and_values);
  // An error value to return from a native: message plus {:type :<type>}.
  Error error(std::string_view type, std::string_view message);

  // The runtime's event loop: natives start their I/O on it.
  uv_loop_t* loop();

  // For the implementation.
  lisp::Isolate& isolate() { return *iso_; }

 private:
  friend class Value;
  friend struct ValueAccess;
  std::unique_ptr<lisp::Isolate> iso_;
  std::vector<std::unique_ptr<Function>> functions_;
  std::vector<std::unique_ptr<AsyncFunction>> async_functions_;
};

// Version of the library, "MAJOR.MINOR.PATCH".
const char* version();

}  // namespace valk
