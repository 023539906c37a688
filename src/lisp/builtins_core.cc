// Core natives: evaluation and modules, errors, atoms, printing, symbols
// and type predicates.
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "lisp/builtins.h"
#include "lisp/builtins_seq.h"
#include "lisp/collections.h"
#include "lisp/compiler.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"
#include "lisp/reader.h"

namespace valk::lisp {
namespace {

Value exception() {
  return Value::sentinel(Tag::Exception);
}

// ---- evaluation and modules ---------------------------------------------------

// Collects the elements of a list or vector; false if `v` is neither.
bool sequence_items(Value v, std::vector<Value>* out) {
  if (v.is(Tag::List)) {
    for (; v.o != nullptr; v = static_cast<Cons*>(v.o)->rest) {
      out->push_back(static_cast<Cons*>(v.o)->first);
    }
    return true;
  }
  if (v.is(Tag::Vector)) {
    size_t n = vector_count(v);
    out->reserve(out->size() + n);
    for (size_t i = 0, len = 0; i < n; i += len) {
      const Value* chunk = vector_chunk(v, i, &len);
      out->insert(out->end(), chunk, chunk + len);
    }
    return true;
  }
  if (v.is_nil()) {
    return true;
  }
  if (v.is(Tag::Map) || v.is(Tag::Set)) {
    out->clear();
    return false;
  }
  return false;
}

// (apply f a b [c d]) calls f with a b c d, through the VM so that f may
// await.
Value n_apply(Isolate& iso, Value* args, int argc) {
  std::vector<Value> call_args(args + 1, args + argc - 1);
  if (!sequence_items(args[argc - 1], &call_args)) {
    return iso.type_error("apply", "a list or vector as the last argument", args[argc - 1]);
  }
  return iso.tail_call(args[0], call_args.data(), call_args.size());
}

Value n_eval(Isolate& iso, Value* args, int argc) {
  CompileResult r = compile_toplevel(iso, args[0]);
  if (r.proto == nullptr) {
    return iso.raise(r.error);
  }
  Closure* c = iso.heap().make<Closure>(Tag::Closure);
  c->proto = r.proto;
  c->num_captured = 0;
  return iso.tail_call(val(c), nullptr, 0);
}

Value read_error(Isolate& iso, const ReadError& e, std::string_view file) {
  return iso.raise_error("read-error", std::string(file) + ":" + std::to_string(e.pos.line) + ":" +
                                           std::to_string(e.pos.column) + ": " + e.message);
}

Value n_read_string(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("read-string", "a string", args[0]);
  }
  ReadResult r = read_all(iso.heap(), static_cast<String*>(args[0].o)->view(), "<string>");
  if (!r.ok) {
    return read_error(iso, r.error, "<string>");
  }
  return r.forms.empty() ? Value::nil() : r.forms[0];
}

// The directory of the file whose code is running, for relative imports.
std::string current_dir(Isolate& iso) {
  Fiber* f = iso.current();
  for (size_t i = f->frames.size(); i > 0; i--) {
    const Frame& fr = f->frames[i - 1];
    SourcePos pos = fr.proto->position_at(fr.pc > 0 ? fr.pc - 1 : 0);
    if (pos.file != 0) {
      return std::filesystem::path(iso.heap().file_name(pos.file)).parent_path().string();
    }
  }
  return ".";
}

std::string resolve_module(Isolate& iso, std::string_view name) {
  namespace fs = std::filesystem;
  std::string file(name);
  if (file.size() < 5 || file.substr(file.size() - 5) != ".lisp") {
    file += ".lisp";
  }
  std::vector<fs::path> candidates;
  if (file.rfind("./", 0) == 0 || file.rfind("../", 0) == 0) {
    candidates.push_back(fs::path(current_dir(iso)) / file);
  } else if (!file.empty() && file[0] == '/') {
    candidates.emplace_back(file);
  } else {
    for (const std::string& dir : iso.options().module_paths) {
      candidates.push_back(fs::path(dir) / file);
    }
    candidates.push_back(fs::path(current_dir(iso)) / file);
  }
  for (const fs::path& p : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) {
      return fs::weakly_canonical(p, ec).string();
    }
  }
  return "";
}

// (import "valk/web") loads a module once per isolate: reads it here, then
// evaluates its forms one by one in Lisp (valk.core/load-forms), so that a
// module may await at its top level.
Value n_import(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("import", "a module name string", args[0]);
  }
  std::string_view name = static_cast<String*>(args[0].o)->view();
  std::string path = resolve_module(iso, name);
  if (path.empty()) {
    return iso.raise_error("import-error", "import: module not found: " + std::string(name));
  }
  if (iso.modules.count(path) != 0) {
    return Value::nil();
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  if (!in) {
    return iso.raise_error("io-error", "import: cannot read " + path);
  }
  iso.modules[path] = true;
  Heap& h = iso.heap();
  ReadResult r = read_all(h, buf.str(), path);
  if (!r.ok) {
    iso.modules.erase(path);
    return read_error(iso, r.error, path);
  }
  Value forms = h.list(r.forms.data(), r.forms.size());
  Var* loader = iso.var("valk.core/load-forms");
  if (!loader->defined) {
    return iso.raise_error("internal-error", "import: valk.core/load-forms is not defined");
  }
  Value load_args[2] = {forms, h.string(path)};
  return iso.tail_call(loader->value, load_args, 2);
}

// (valk.core/forget-module path): a module that raised while loading is
// not loaded, so that the next import of it tries again.
Value n_forget_module(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("valk.core/forget-module", "a path string", args[0]);
  }
  iso.modules.erase(std::string(static_cast<String*>(args[0].o)->view()));
  return Value::nil();
}

// (valk.core/carry-over 'name), for defonce: true if `name` is defined, or
// was in the generation an app reload replaces (its value is then carried
// into this one).
Value n_carry_over(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::Symbol)) {
    return iso.type_error("defonce", "a symbol", args[0]);
  }
  auto* name = static_cast<Symbol*>(args[0].o);
  Var* v = iso.var(name);
  if (v->defined) {
    return Value::boolean(true);
  }
  Var* before = iso.previous_var(name);
  if (before == nullptr || !before->defined) {
    return Value::boolean(false);
  }
  v->value = before->value;
  v->defined = true;
  return Value::boolean(true);
}

// ---- errors -------------------------------------------------------------------

Value n_error(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("error", "a message string", args[0]);
  }
  Value data = argc > 1 ? args[1] : Value::nil();
  if (!data.is_nil() && !data.is(Tag::Map)) {
    return iso.type_error("error", "a data map", data);
  }
  return iso.raise(val(iso.make_error(args[0], data)));
}

Value n_make_error(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("ex-info", "a message string", args[0]);
  }
  Value data = argc > 1 ? args[1] : Value::nil();
  if (!data.is_nil() && !data.is(Tag::Map)) {
    return iso.type_error("ex-info", "a data map", data);
  }
  return val(iso.make_error(args[0], data));
}

Value n_error_p(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is(Tag::Error));
}

Value n_error_message(Isolate& iso, Value* args, int argc) {
  return args[0].is(Tag::Error) ? static_cast<Error*>(args[0].o)->message : Value::nil();
}

Value n_error_data(Isolate& iso, Value* args, int argc) {
  return args[0].is(Tag::Error) ? static_cast<Error*>(args[0].o)->data : Value::nil();
}

Value n_error_trace(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::Error)) {
    return Value::nil();
  }
  Heap& h = iso.heap();
  std::vector<Value> lines;
  for (const TraceEntry& t : static_cast<Error*>(args[0].o)->trace) {
    std::string line = t.function;
    if (t.pos.line != 0) {
      line += " (" + h.file_name(t.pos.file) + ":" + std::to_string(t.pos.line) + ":" +
              std::to_string(t.pos.column) + ")";
    }
    lines.push_back(h.string(line));
  }
  return vector_from(h, lines.data(), lines.size());
}

// ---- atoms --------------------------------------------------------------------

Value n_atom(Isolate& iso, Value* args, int argc) {
  Atom* a = iso.heap().make<Atom>(Tag::Atom);
  a->value = args[0];
  return val(a);
}

Value n_deref(Isolate& iso, Value* args, int argc) {
  if (args[0].is(Tag::Atom)) {
    return static_cast<Atom*>(args[0].o)->value;
  }
  if (args[0].is(Tag::Promise)) {
    // @promise waits like await.
    Var* await = iso.var("await");
    return iso.tail_call(await->value, args, 1);
  }
  return iso.type_error("deref", "an atom or a promise", args[0]);
}

Value n_reset(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::Atom)) {
    return iso.type_error("reset!", "an atom", args[0]);
  }
  static_cast<Atom*>(args[0].o)->value = args[1];
  return args[1];
}

Value n_compare_and_set(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::Atom)) {
    return iso.type_error("compare-and-set!", "an atom", args[0]);
  }
  auto* a = static_cast<Atom*>(args[0].o);
  if (!identical(a->value, args[1])) {
    return Value::boolean(false);
  }
  a->value = args[2];
  return Value::boolean(true);
}

// ---- printing -----------------------------------------------------------------

// The arguments printed, separated by spaces, into *out; false, with
// :allocation-exceeded raised, once that passes the fiber's budget.
bool join_printed(Isolate& iso, const char* fn, Value* args, int argc, bool readably,
                  std::string* out) {
  size_t left = iso.allocation_left();
  for (int i = 0; i < argc; i++) {
    if (i > 0) {
      *out += ' ';
    }
    if (!print_to(*out, args[i], readably, left)) {
      iso.may_allocate(fn, out->size());  // raises
      return false;
    }
  }
  return true;
}

// print, println, pr and prn: the arguments printed (readably for pr and
// prn) to standard output; println and prn end the line and flush.
Value print_out(Isolate& iso, const char* fn, Value* args, int argc, bool readably, bool line) {
  std::string out;
  if (!join_printed(iso, fn, args, argc, readably, &out)) {
    return Value::sentinel(Tag::Exception);
  }
  if (line) {
    out += '\n';
  }
  fwrite(out.data(), 1, out.size(), stdout);
  if (line) {
    fflush(stdout);
  }
  return Value::nil();
}

Value n_print(Isolate& iso, Value* args, int argc) {
  return print_out(iso, "print", args, argc, false, false);
}

Value n_println(Isolate& iso, Value* args, int argc) {
  return print_out(iso, "println", args, argc, false, true);
}

Value n_pr(Isolate& iso, Value* args, int argc) {
  return print_out(iso, "pr", args, argc, true, false);
}

Value n_prn(Isolate& iso, Value* args, int argc) {
  return print_out(iso, "prn", args, argc, true, true);
}

Value n_pr_str(Isolate& iso, Value* args, int argc) {
  std::string out;
  if (!join_printed(iso, "pr-str", args, argc, true, &out)) {
    return Value::sentinel(Tag::Exception);
  }
  return iso.heap().string(out);
}

Value n_str(Isolate& iso, Value* args, int argc) {
  if (argc == 1 && args[0].is(Tag::String)) {
    return args[0];
  }
  // Strings and nils only (the common concatenation): one copy straight
  // into the result, whose length in code points is the sum of theirs.
  size_t size = 0;
  size_t chars = 0;
  int i = 0;
  for (; i < argc; i++) {
    if (args[i].is(Tag::String)) {
      auto* s = static_cast<String*>(args[i].o);
      size += s->size;
      chars += s->char_count;
    } else if (!args[i].is_nil()) {
      break;
    }
  }
  // The result is checked against the allocation budget before it is
  // made (the same long string many times is gigabytes in one call), or
  // as it is printed.
  if (i == argc && !iso.may_allocate("str", size)) {
    return Value::sentinel(Tag::Exception);
  }
  if (i == argc && size <= UINT32_MAX) {
    String* out = iso.heap().make_string(size, chars);
    char* at = out->data;
    for (i = 0; i < argc; i++) {
      if (args[i].is(Tag::String)) {
        auto* s = static_cast<String*>(args[i].o);
        memcpy(at, s->data, s->size);
        at += s->size;
      }
    }
    return val(out);
  }
  std::string out;
  size_t left = iso.allocation_left();
  for (i = 0; i < argc; i++) {
    if (!print_for_str(out, args[i], left)) {
      iso.may_allocate("str", out.size());  // raises
      return Value::sentinel(Tag::Exception);
    }
  }
  return iso.heap().string(out);
}

// ---- symbols, keywords, identity ------------------------------------------------

Value n_gensym(Isolate& iso, Value* args, int argc) {
  std::string prefix = "G__";
  if (argc > 0) {
    if (!args[0].is(Tag::String)) {
      return iso.type_error("gensym", "a prefix string", args[0]);
    }
    prefix = std::string(static_cast<String*>(args[0].o)->view());
  }
  return iso.heap().symbol(prefix + std::to_string(iso.next_gensym()));
}

Value n_symbol(Isolate& iso, Value* args, int argc) {
  if (args[0].is(Tag::Symbol)) {
    return args[0];
  }
  if (!args[0].is(Tag::String)) {
    return iso.type_error("symbol", "a string", args[0]);
  }
  return iso.heap().symbol(static_cast<String*>(args[0].o)->view());
}

Value n_keyword(Isolate& iso, Value* args, int argc) {
  if (args[0].is(Tag::Keyword)) {
    return args[0];
  }
  if (args[0].is(Tag::Symbol)) {
    return iso.heap().keyword(static_cast<Symbol*>(args[0].o)->name->view());
  }
  if (!args[0].is(Tag::String)) {
    return iso.type_error("keyword", "a string", args[0]);
  }
  return iso.heap().keyword(static_cast<String*>(args[0].o)->view());
}

Value n_name(Isolate& iso, Value* args, int argc) {
  if (args[0].is(Tag::String)) {
    return args[0];
  }
  if (args[0].is(Tag::Symbol) || args[0].is(Tag::Keyword)) {
    return val(static_cast<Symbol*>(args[0].o)->name);
  }
  return iso.type_error("name", "a string, symbol or keyword", args[0]);
}

Value n_type(Isolate& iso, Value* args, int argc) {
  return iso.heap().keyword(type_name(args[0]));
}

Value n_identical(Isolate& iso, Value* args, int argc) {
  return Value::boolean(identical(args[0], args[1]));
}

Value n_equal(Isolate& iso, Value* args, int argc) {
  for (int i = 1; i < argc; i++) {
    if (!equal(args[0], args[i])) {
      return Value::boolean(false);
    }
  }
  return Value::boolean(true);
}

Value n_not_equal(Isolate& iso, Value* args, int argc) {
  return Value::boolean(!n_equal(iso, args, argc).b);
}

Value n_compare(Isolate& iso, Value* args, int argc) {
  int c;
  if (!compare_values(iso, args[0], args[1], &c)) {
    return exception();
  }
  return Value::integer(c);
}

Value n_hash(Isolate& iso, Value* args, int argc) {
  return Value::integer(static_cast<int64_t>(hash(args[0]) & INT64_MAX));
}

Value n_not(Isolate& iso, Value* args, int argc) {
  return Value::boolean(!args[0].truthy());
}

// Type predicates: one native per tag test.
template <Tag T>
Value is_tag(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is(T));
}

Value n_fn_p(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is(Tag::Closure) || args[0].is(Tag::Native));
}

Value n_some_p(Isolate& iso, Value* args, int argc) {
  return Value::boolean(!args[0].is_nil());
}

Value n_true_p(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is(Tag::Bool) && args[0].b);
}

Value n_false_p(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is(Tag::Bool) && !args[0].b);
}

Value n_getenv(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("getenv", "a string", args[0]);
  }
  const char* v = getenv(static_cast<String*>(args[0].o)->data);
  return v == nullptr ? Value::nil() : iso.heap().string(v);
}

// Replaced by the real one in `valk serve` workers.
Value n_serve(Isolate& iso, Value* args, int argc) {
  return iso.raise_error("serve-error", "serve: run this app with `valk serve FILE`");
}

Value n_now_ms(Isolate& iso, Value* args, int argc) {
  // The loop caches its clock at each iteration; a fiber that runs for a
  // while without awaiting must still see time move.
  uv_update_time(iso.loop());
  return Value::integer(static_cast<int64_t>(uv_now(iso.loop())));
}

Value n_gc(Isolate& iso, Value* args, int argc) {
  // Collection happens at the next safe point; report what the heap holds.
  const HeapStats& s = iso.heap().stats();
  Heap& h = iso.heap();
  Value kvs[] = {h.keyword("bytes-live"),
                 Value::integer(static_cast<int64_t>(s.bytes_live)),
                 h.keyword("objects"),
                 Value::integer(static_cast<int64_t>(s.objects_live)),
                 h.keyword("collections"),
                 Value::integer(static_cast<int64_t>(s.collections)),
                 h.keyword("collection-ms"),
                 Value::number(s.collection_ns_total / 1e6),
                 h.keyword("longest-collection-ms"),
                 Value::number(s.collection_ns_longest / 1e6)};
  return map_from(h, kvs, std::size(kvs) / 2);
}

}  // namespace

// Clojure's compare: numbers numerically, strings, symbols and keywords by
// text, booleans false first, nil before everything, vectors by length then
// element-wise. Returns false (with an error raised) for other pairs.
bool compare_values(Isolate& iso, Value a, Value b, int* out) {
  auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (a.is_nil() || b.is_nil()) {
    *out = a.is_nil() ? (b.is_nil() ? 0 : -1) : 1;
    return true;
  }
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) {
      *out = sign(a.i, b.i);
    } else {
      *out = sign(a.is_int() ? static_cast<double>(a.i) : a.d,
                  b.is_int() ? static_cast<double>(b.i) : b.d);
    }
    return true;
  }
  if (a.tag != b.tag) {
    iso.raise_error("type-error", "compare: cannot compare " + std::string(type_name(a)) +
                                      " with " + std::string(type_name(b)));
    return false;
  }
  switch (a.tag) {
    case Tag::Bool:
      *out = sign(a.b, b.b);
      return true;
    case Tag::String:
      *out = sign(static_cast<String*>(a.o)->view(), static_cast<String*>(b.o)->view());
      return true;
    case Tag::Symbol:
    case Tag::Keyword:
      *out = sign(static_cast<Symbol*>(a.o)->name->view(), static_cast<Symbol*>(b.o)->name->view());
      return true;
    case Tag::Vector: {
      size_t na = vector_count(a), nb = vector_count(b);
      if (na != nb) {
        *out = sign(na, nb);
        return true;
      }
      for (size_t i = 0; i < na; i++) {
        if (!compare_values(iso, vector_nth(a, i), vector_nth(b, i), out)) {
          return false;
        }
        if (*out != 0) {
          return true;
        }
      }
      *out = 0;
      return true;
    }
    default:
      iso.raise_error("type-error",
                      "compare: cannot compare values of type " + std::string(type_name(a)));
      return false;
  }
}

void register_core_natives(Isolate& iso) {
  iso.define_native("apply", n_apply, 2, -1);
  iso.define_native("eval", n_eval, 1, 1);
  iso.define_native("read-string", n_read_string, 1, 1);
  iso.define_native("import", n_import, 1, 1);
  iso.define_native("valk.core/forget-module", n_forget_module, 1, 1);
  iso.define_native("valk.core/carry-over", n_carry_over, 1, 1);
  iso.define_native("error", n_error, 1, 2);
  iso.define_native("ex-info", n_make_error, 1, 2);
  iso.define_native("error?", n_error_p, 1, 1);
  iso.define_native("error-message", n_error_message, 1, 1);
  iso.define_native("ex-message", n_error_message, 1, 1);
  iso.define_native("error-data", n_error_data, 1, 1);
  iso.define_native("ex-data", n_error_data, 1, 1);
  iso.define_native("error-trace", n_error_trace, 1, 1);
  iso.define_native("atom", n_atom, 1, 1);
  iso.define_native("deref", n_deref, 1, 1);
  iso.define_native("reset!", n_reset, 2, 2);
  iso.define_native("compare-and-set!", n_compare_and_set, 3, 3);
  iso.define_native("print", n_print, 0, -1);
  iso.define_native("println", n_println, 0, -1);
  iso.define_native("pr", n_pr, 0, -1);
  iso.define_native("prn", n_prn, 0, -1);
  iso.define_native("pr-str", n_pr_str, 0, -1);
  iso.define_native("str", n_str, 0, -1);
  iso.define_native("gensym", n_gensym, 0, 1);
  iso.define_native("symbol", n_symbol, 1, 1);
  iso.define_native("keyword", n_keyword, 1, 1);
  iso.define_native("name", n_name, 1, 1);
  iso.define_native("type", n_type, 1, 1);
  iso.define_native("identical?", n_identical, 2, 2);
  iso.define_native("=", n_equal, 1, -1);
  iso.define_native("not=", n_not_equal, 1, -1);
  iso.define_native("hash", n_hash, 1, 1);
  iso.define_native("compare", n_compare, 2, 2);
  iso.define_native("not", n_not, 1, 1);
  iso.define_native("nil?", is_tag<Tag::Nil>, 1, 1);
  iso.define_native("boolean?", is_tag<Tag::Bool>, 1, 1);
  iso.define_native("symbol?", is_tag<Tag::Symbol>, 1, 1);
  iso.define_native("keyword?", is_tag<Tag::Keyword>, 1, 1);
  iso.define_native("atom?", is_tag<Tag::Atom>, 1, 1);
  iso.define_native("bytes?", is_tag<Tag::Bytes>, 1, 1);
  iso.define_native("fn?", n_fn_p, 1, 1);
  iso.define_native("some?", n_some_p, 1, 1);
  iso.define_native("true?", n_true_p, 1, 1);
  iso.define_native("false?", n_false_p, 1, 1);
  iso.define_native("getenv", n_getenv, 1, 1);
  iso.define_native("now-ms", n_now_ms, 0, 0);
  iso.define_native("serve", n_serve, 1, 2);
  iso.define_native("heap-stats", n_gc, 0, 0);
}

}  // namespace valk::lisp
