#include "lisp/syntax_quote.h"

#include <unordered_map>
#include <vector>

#include "lisp/collections.h"

namespace valk::lisp {
namespace {

class Expander {
 public:
  Expander(Isolate& iso, int max_depth) : iso_(iso), heap_(iso.heap()), max_depth_(max_depth) {}

  bool expand(Value form, int depth, Value* out) {
    if (depth > max_depth_) {
      error = "syntax-quote: the form is nested too deeply";
      return false;
    }
    if (form.is(Tag::Symbol)) {
      *out = call_form("quote", {gensym_for(static_cast<Symbol*>(form.o), form)});
      return true;
    }
    bool is_list = form.is(Tag::List) && form.o != nullptr;
    if (!is_list && !form.is(Tag::Vector) && !form.is(Tag::Map) && !form.is(Tag::Set)) {
      *out = form;  // numbers, strings, keywords, nil, booleans, ()
      return true;
    }
    if (is_list && is_call_of(form, "unquote")) {
      *out = second(form);
      return true;
    }
    if (is_list && is_call_of(form, "unquote-splicing")) {
      error = "~@ must be inside a list, vector, map or set";
      return false;
    }
    std::vector<Value> parts;
    bool ok = true;
    each_item(form, [&](Value item) {
      if (is_call_of(item, "unquote-splicing")) {
        parts.push_back(second(item));
        return true;
      }
      Value inner;
      ok = expand(item, depth + 1, &inner);
      parts.push_back(call_form("valk.core/list", {inner}));
      return ok;
    });
    if (!ok) {
      return false;
    }
    Value concat = call_form("valk.core/concat", parts);
    if (form.is(Tag::Vector)) {
      *out = call_form("valk.core/vec", {concat});
    } else if (form.is(Tag::Map)) {
      *out = call_form("valk.core/apply", {heap_.symbol("valk.core/hash-map"), concat});
    } else if (form.is(Tag::Set)) {
      *out = call_form("valk.core/set", {concat});
    } else {
      *out = concat;
    }
    return true;
  }

  std::string error;

 private:
  // x# becomes the same fresh symbol everywhere in one syntax-quote.
  Value gensym_for(Symbol* s, Value form) {
    std::string_view n = s->name->view();
    if (n.size() < 2 || n.back() != '#') {
      return form;
    }
    auto it = gensyms_.find(s);
    if (it == gensyms_.end()) {
      std::string g = std::string(n.substr(0, n.size() - 1)) + "__" +
                      std::to_string(iso_.next_gensym()) + "__auto__";
      it = gensyms_.emplace(s, heap_.symbol(g)).first;
    }
    return it->second;
  }

  // Calls f on each element (a map's entries as key, value, key, ...).
  template <class F>
  void each_item(Value coll, F f) {
    if (coll.is(Tag::List)) {
      for (Value v = coll; v.o != nullptr; v = static_cast<Cons*>(v.o)->rest) {
        if (!f(static_cast<Cons*>(v.o)->first)) {
          return;
        }
      }
    } else if (coll.is(Tag::Vector)) {
      vector_each(coll, f);
    } else if (coll.is(Tag::Set)) {
      set_each(coll, f);
    } else if (coll.is(Tag::Map)) {
      map_each(coll, [&](Value k, Value v) { return f(k) && f(v); });
    }
  }

  static Value second(Value list) {
    Value rest = static_cast<Cons*>(list.o)->rest;
    return rest.o == nullptr ? Value::nil() : static_cast<Cons*>(rest.o)->first;
  }

  static bool is_call_of(Value v, const char* name) {
    if (!v.is(Tag::List) || v.o == nullptr) {
      return false;
    }
    Value head = static_cast<Cons*>(v.o)->first;
    return head.is(Tag::Symbol) && static_cast<Symbol*>(head.o)->name->view() == name;
  }

  Value call_form(const char* fn, std::vector<Value> args) {
    args.insert(args.begin(), heap_.symbol(fn));
    return heap_.list(args.data(), args.size());
  }

  Isolate& iso_;
  Heap& heap_;
  int max_depth_;
  std::unordered_map<Symbol*, Value> gensyms_;
};

}  // namespace

bool expand_syntax_quote(Isolate& iso, Value form, int max_depth, Value* out, std::string* error) {
  Expander e(iso, max_depth);
  if (!e.expand(form, 0, out)) {
    *error = e.error;
    return false;
  }
  return true;
}

}  // namespace valk::lisp
