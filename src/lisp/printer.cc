// The printer. Nested collections are printed from an explicit stack of
// pending items (values still to print and literal text such as closing
// brackets), so the depth of a value never grows the C++ stack.
#include "lisp/printer.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

#include "lisp/collections.h"
#include "lisp/fiber.h"
#include "lisp/function.h"
#include "lisp/object.h"

namespace valk::lisp {

namespace {

// Atoms nested deeper than this inside one printed value print as
// `#<atom ...>`: atoms are the only way to build a cycle.
constexpr int kMaxAtomDepth = 4;

struct Item {
  Value v;
  const char* text;  // when non-null, emit this instead of printing v
  int atom_depth;
};

void print_double(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "##NaN";
    return;
  }
  if (std::isinf(d)) {
    out += d > 0 ? "##Inf" : "##-Inf";
    return;
  }
  // The shortest text that reads back to the same double, reshaped to the
  // Clojure spelling: always a fraction (`1.0`), and `1.0E300`, not
  // `1e+300`.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d);
  std::string_view s(buf, res.ptr - buf);
  size_t e = s.find('e');
  std::string_view mantissa = s.substr(0, e);
  out += mantissa;
  if (mantissa.find('.') == std::string_view::npos) {
    out += ".0";
  }
  if (e != std::string_view::npos) {
    out += 'E';
    std::string_view exp = s.substr(e + 1);
    if (!exp.empty() && exp[0] == '+') {
      exp.remove_prefix(1);
    } else if (!exp.empty() && exp[0] == '-') {
      out += '-';
      exp.remove_prefix(1);
    }
    while (exp.size() > 1 && exp[0] == '0') {
      exp.remove_prefix(1);
    }
    out += exp;
  }
}

void print_string(std::string& out, const String* s, bool readably) {
  if (!readably) {
    out.append(s->data, s->size);
    return;
  }
  out += '"';
  for (uint32_t i = 0; i < s->size; i++) {
    char c = s->data[i];
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void print_name(std::string& out, const String* name) {
  if (name != nullptr) {
    out.append(name->data, name->size);
  }
}

// Pushes `close`, then the elements in reverse separated by `sep`, so that
// they pop in order. `elems` holds the values in order.
void push_elements(std::vector<Item>& stack, const std::vector<Value>& elems, const char* sep,
                   const char* close, int atom_depth) {
  stack.push_back({Value(), close, 0});
  for (size_t i = elems.size(); i > 0; i--) {
    stack.push_back({elems[i - 1], nullptr, atom_depth});
    if (i > 1) {
      stack.push_back({Value(), sep, 0});
    }
  }
}

// Prints one item; collections push their contents onto `stack`.
void print_one(std::string& out, const Item& item, bool readably, std::vector<Item>& stack) {
  Value v = item.v;
  std::vector<Value> elems;
  switch (v.tag) {
    case Tag::Nil:
      out += "nil";
      return;
    case Tag::Bool:
      out += v.b ? "true" : "false";
      return;
    case Tag::Int: {
      char buf[24];
      auto res = std::to_chars(buf, buf + sizeof(buf), v.i);
      out.append(buf, res.ptr - buf);
      return;
    }
    case Tag::Double:
      print_double(out, v.d);
      return;
    case Tag::String:
      print_string(out, static_cast<String*>(v.o), readably);
      return;
    case Tag::Symbol:
      print_name(out, static_cast<Symbol*>(v.o)->name);
      return;
    case Tag::Keyword:
      out += ':';
      print_name(out, static_cast<Symbol*>(v.o)->name);
      return;
    case Tag::List:
      out += '(';
      for (Value c = v; c.o != nullptr; c = static_cast<Cons*>(c.o)->rest) {
        elems.push_back(static_cast<Cons*>(c.o)->first);
      }
      push_elements(stack, elems, " ", ")", item.atom_depth);
      return;
    case Tag::Vector:
      out += '[';
      vector_each(v, [&](Value e) {
        elems.push_back(e);
        return true;
      });
      push_elements(stack, elems, " ", "]", item.atom_depth);
      return;
    case Tag::Map: {
      out += '{';
      stack.push_back({Value(), "}", 0});
      std::vector<std::pair<Value, Value>> entries;
      map_each(v, [&](Value k, Value x) {
        entries.emplace_back(k, x);
        return true;
      });
      for (size_t i = entries.size(); i > 0; i--) {
        stack.push_back({entries[i - 1].second, nullptr, item.atom_depth});
        stack.push_back({Value(), " ", 0});
        stack.push_back({entries[i - 1].first, nullptr, item.atom_depth});
        if (i > 1) {
          stack.push_back({Value(), ", ", 0});
        }
      }
      return;
    }
    case Tag::Set:
      out += "#{";
      set_each(v, [&](Value e) {
        elems.push_back(e);
        return true;
      });
      push_elements(stack, elems, " ", "}", item.atom_depth);
      return;
    case Tag::Bytes:
      out += "#bytes[";
      out += std::to_string(static_cast<Bytes*>(v.o)->size);
      out += ']';
      return;
    case Tag::Proto:
      out += "#<proto ";
      print_name(out, static_cast<Proto*>(v.o)->name);
      out += '>';
      return;
    case Tag::Closure: {
      String* name = static_cast<Closure*>(v.o)->proto->name;
      out += name != nullptr ? "#<fn " : "#<fn";
      print_name(out, name);
      out += '>';
      return;
    }
    case Tag::Native:
      out += "#<native ";
      print_name(out, static_cast<Native*>(v.o)->name);
      out += '>';
      return;
    case Tag::Var:
      out += "#'";
      print_name(out, static_cast<Var*>(v.o)->name->name);
      return;
    case Tag::Atom:
      if (item.atom_depth >= kMaxAtomDepth) {
        out += "#<atom ...>";
        return;
      }
      out += "#<atom ";
      stack.push_back({Value(), ">", 0});
      stack.push_back({static_cast<Atom*>(v.o)->value, nullptr, item.atom_depth + 1});
      return;
    case Tag::Error: {
      out += "#<error ";
      Value msg = static_cast<Error*>(v.o)->message;
      if (msg.tag == Tag::String) {
        print_string(out, static_cast<String*>(msg.o), true);
      } else {
        out += "nil";
      }
      out += '>';
      return;
    }
    case Tag::Promise: {
      static const char* const kStates[] = {"pending", "fulfilled", "rejected"};
      out += "#<promise ";
      out += kStates[static_cast<int>(static_cast<Promise*>(v.o)->state)];
      out += '>';
      return;
    }
    case Tag::Fiber: {
      static const char* const kStates[] = {"ready", "running", "parked", "done"};
      out += "#<fiber ";
      out += kStates[static_cast<int>(static_cast<Fiber*>(v.o)->state)];
      out += '>';
      return;
    }
    case Tag::Internal:
      out += "#<";
      out += static_cast<const ClassObj*>(v.o)->cls->name;
      out += '>';
      return;
    case Tag::Exception:
    case Tag::Park:
    case Tag::TailCall:
      out += "#<sentinel>";
      return;
  }
}

}  // namespace

bool print_to(std::string& out, Value v, bool readably, size_t limit) {
  std::vector<Item> stack;
  stack.push_back({v, nullptr, 0});
  while (!stack.empty()) {
    if (out.size() > limit) {
      return false;
    }
    Item item = stack.back();
    stack.pop_back();
    if (item.text != nullptr) {
      out += item.text;
    } else {
      print_one(out, item, readably, stack);
    }
  }
  return out.size() <= limit;
}

std::string print_str(Value v, bool readably) {
  std::string out;
  print_to(out, v, readably);
  return out;
}

bool print_for_str(std::string& out, Value v, size_t limit) {
  if (v.is_nil()) {
    return out.size() <= limit;
  }
  if (v.tag == Tag::String) {
    auto* s = static_cast<String*>(v.o);
    if (s->size > limit || out.size() > limit - s->size) {
      return false;
    }
    out.append(s->data, s->size);
    return true;
  }
  return print_to(out, v, true, limit);
}

}  // namespace valk::lisp
