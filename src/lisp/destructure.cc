#include "lisp/destructure.h"

#include "lisp/collections.h"
#include "lisp/printer.h"

namespace valk::lisp {
namespace {

class Destructurer {
 public:
  Destructurer(Isolate& iso, std::vector<Value>* out) : iso_(iso), heap_(iso.heap()), out_(out) {}

  std::string error;

  bool bind(Value target, Value init) {
    if (target.is(Tag::Symbol)) {
      out_->push_back(target);
      out_->push_back(init);
      return true;
    }
    if (target.is(Tag::Vector)) {
      return bind_vector(target, init);
    }
    if (target.is(Tag::Map)) {
      return bind_map(target, init);
    }
    error = "cannot bind to " + print_str(target, true) +
            ": a binding is a name, a [vector] or a {map} pattern";
    return false;
  }

 private:
  // [a b & more :as all]: a = (nth v 0 nil), b = (nth v 1 nil),
  // more = (seq (drop 2 v)), all = v.
  bool bind_vector(Value pattern, Value init) {
    Value v = destructure_name(iso_, "vec__");
    out_->push_back(v);
    out_->push_back(init);
    size_t n = vector_count(pattern);
    int64_t index = 0;
    for (size_t i = 0; i < n; i++) {
      Value item = vector_nth(pattern, i);
      if (is_symbol(item, "&")) {
        if (i + 1 >= n) {
          error = "& in a vector pattern must be followed by a binding";
          return false;
        }
        Value rest = call("valk.core/seq", {call("valk.core/drop", {Value::integer(index), v})});
        if (!bind(vector_nth(pattern, ++i), rest)) {
          return false;
        }
      } else if (is_keyword(item, "as")) {
        if (i + 1 >= n || !vector_nth(pattern, i + 1).is(Tag::Symbol)) {
          error = ":as in a vector pattern must be followed by a name";
          return false;
        }
        out_->push_back(vector_nth(pattern, ++i));
        out_->push_back(v);
      } else if (!bind(item, call("valk.core/nth", {v, Value::integer(index++), Value::nil()}))) {
        return false;
      }
    }
    return true;
  }

  // {a :a, :keys [b], :or {b 0}, :as m}: a = (get m :a), b = (get m :b 0).
  bool bind_map(Value pattern, Value init) {
    Value m = destructure_name(iso_, "map__");
    out_->push_back(m);
    out_->push_back(init);
    Value defaults;
    if (map_find(pattern, heap_.keyword("or"), &defaults) && !defaults.is(Tag::Map)) {
      error = ":or in a map pattern takes a map of names to defaults";
      return false;
    }
    bool ok = true;
    map_each(pattern, [&](Value key, Value spec) {
      if (is_keyword(key, "or")) {
        return true;
      }
      if (is_keyword(key, "as")) {
        if (!spec.is(Tag::Symbol)) {
          error = ":as in a map pattern must be followed by a name";
          return ok = false;
        }
        out_->push_back(spec);
        out_->push_back(m);
        return true;
      }
      if (is_keyword(key, "keys") || is_keyword(key, "strs") || is_keyword(key, "syms")) {
        return ok = bind_names(m, key, spec, defaults);
      }
      return ok = bind(key, lookup(m, spec, key, defaults));
    });
    return ok;
  }

  // :keys [a b] (keyword keys), :strs (string keys), :syms (symbol keys).
  bool bind_names(Value m, Value kind, Value names, Value defaults) {
    if (!names.is(Tag::Vector)) {
      error = print_str(kind, true) + " in a map pattern takes a vector of names";
      return false;
    }
    std::string_view how = static_cast<Keyword*>(kind.o)->name->view();
    for (size_t i = 0; i < vector_count(names); i++) {
      Value name = vector_nth(names, i);
      if (!name.is(Tag::Symbol)) {
        error = print_str(kind, true) + " takes names, got " + print_str(name, true);
        return false;
      }
      std::string_view full = static_cast<Symbol*>(name.o)->name->view();
      // :keys [user/id] binds id to the value of :user/id.
      size_t slash = full.find('/');
      Value local = slash == std::string_view::npos || full.size() == 1
                        ? name
                        : heap_.symbol(full.substr(slash + 1));
      Value key = how == "keys"   ? heap_.keyword(full)
                  : how == "strs" ? heap_.string(full)
                                  : heap_.list({heap_.symbol("quote"), name});
      out_->push_back(local);
      out_->push_back(lookup(m, key, local, defaults));
    }
    return true;
  }

  // (get m key) or, when :or has a default for `local`, (get m key default).
  Value lookup(Value m, Value key, Value local, Value defaults) {
    Value fallback;
    if (local.is(Tag::Symbol) && defaults.is(Tag::Map) && map_find(defaults, local, &fallback)) {
      return call("valk.core/get", {m, key, fallback});
    }
    return call("valk.core/get", {m, key});
  }

  Value call(const char* fn, std::initializer_list<Value> args) {
    std::vector<Value> items;
    items.push_back(heap_.symbol(fn));
    items.insert(items.end(), args.begin(), args.end());
    return heap_.list(items.data(), items.size());
  }

  static bool is_symbol(Value v, std::string_view name) {
    return v.is(Tag::Symbol) && static_cast<Symbol*>(v.o)->name->view() == name;
  }
  static bool is_keyword(Value v, std::string_view name) {
    return v.is(Tag::Keyword) && static_cast<Keyword*>(v.o)->name->view() == name;
  }

  Isolate& iso_;
  Heap& heap_;
  std::vector<Value>* out_;
};

}  // namespace

Value destructure_name(Isolate& iso, const char* prefix) {
  return iso.heap().symbol(std::string(prefix) + std::to_string(iso.next_gensym()));
}

Value unpack_params(Isolate& iso, std::vector<Value>* params, const std::vector<Value>& body) {
  Heap& h = iso.heap();
  std::vector<Value> pairs;
  for (size_t i = 0; i < params->size(); i++) {
    Value p = (*params)[i];
    if (!is_pattern(p)) {
      continue;
    }
    Value name = destructure_name(iso, "p__");
    Value before = i > 0 ? (*params)[i - 1] : Value::nil();
    bool rest_map = p.is(Tag::Map) && before.is(Tag::Symbol) &&
                    static_cast<Symbol*>(before.o)->name->view() == "&";
    pairs.push_back(p);
    pairs.push_back(
        rest_map ? h.list({h.symbol("valk.core/apply"), h.symbol("valk.core/hash-map"), name})
                 : name);
    (*params)[i] = name;
  }
  std::vector<Value> let_form = {h.symbol("let"), vector_from(h, pairs.data(), pairs.size())};
  let_form.insert(let_form.end(), body.begin(), body.end());
  return h.list(let_form.data(), let_form.size());
}

std::vector<Value> loop_without_patterns(Isolate& iso, const std::vector<Value>& bindings,
                                         const std::vector<Value>& loop_args) {
  Heap& h = iso.heap();
  std::vector<Value> loop_bindings, let_bindings;
  for (size_t i = 0; i + 1 < bindings.size(); i += 2) {
    Value target = bindings[i];
    if (is_pattern(target)) {
      Value name = destructure_name(iso, "loop__");
      let_bindings.push_back(target);
      let_bindings.push_back(name);
      target = name;
    }
    loop_bindings.push_back(target);
    loop_bindings.push_back(bindings[i + 1]);
  }
  std::vector<Value> let_form = {h.symbol("let"),
                                 vector_from(h, let_bindings.data(), let_bindings.size())};
  let_form.insert(let_form.end(), loop_args.begin() + 1, loop_args.end());
  return {vector_from(h, loop_bindings.data(), loop_bindings.size()),
          h.list(let_form.data(), let_form.size())};
}

bool destructure(Isolate& iso, const std::vector<Value>& pairs, std::vector<Value>* out,
                 std::string* error) {
  Destructurer d(iso, out);
  for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
    if (!d.bind(pairs[i], pairs[i + 1])) {
      *error = d.error;
      return false;
    }
  }
  return true;
}

}  // namespace valk::lisp
