// The reader's structure: the read loop, delimiters, reader macros,
// collection building and the entry points. Tokens are in reader_tokens.cc.
#include <limits>
#include <unordered_map>

#include "lisp/collections.h"
#include "lisp/reader.h"
#include "lisp/reader_internal.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace reader_detail {

size_t first_invalid_utf8(std::string_view s, size_t from) {
  size_t i = from;
  size_t n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      lo = c == 0xE0 ? 0xA0 : 0x80;
      hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      return i;
    }
    if (n - i < len) {
      return i;
    }
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) {
      return i;
    }
    for (size_t k = 2; k < len; k++) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        return i;
      }
    }
    i += len;
  }
  return n;
}

std::string pos_text(SourcePos p) {
  return std::to_string(p.line) + ":" + std::to_string(p.column);
}

std::string describe(Value v) {
  switch (v.tag) {
    case Tag::Nil:
      return "nil";
    case Tag::Bool:
      return v.b ? "true" : "false";
    case Tag::Int:
      return std::to_string(v.i);
    case Tag::Double: {
      char buf[32];
      snprintf(buf, sizeof buf, "%g", v.d);
      return buf;
    }
    case Tag::String: {
      std::string_view s = static_cast<String*>(v.o)->view();
      if (s.size() > 40) {
        return "\"" + std::string(s.substr(0, utf8_offset(s, 37))) + "...\"";
      }
      return "\"" + std::string(s) + "\"";
    }
    case Tag::Symbol:
      return std::string(static_cast<Symbol*>(v.o)->name->view());
    case Tag::Keyword:
      return ":" + std::string(static_cast<Symbol*>(v.o)->name->view());
    case Tag::List:
      return "a list";
    case Tag::Vector:
      return "a vector";
    case Tag::Map:
      return "a map";
    case Tag::Set:
      return "a set";
    default:
      return "a value";
  }
}

// ---------------------------------------------------------------------------
// The read loop

ReadStatus Reader::fail(SourcePos pos, std::string message) {
  error_.message = std::move(message);
  error_.pos = pos;
  error_.incomplete = false;
  return ReadStatus::Error;
}

ReadStatus Reader::fail_end(SourcePos pos, std::string message) {
  if (limit_ < src_.size()) {
    return fail(here(), "invalid UTF-8 at " + pos_text(here()));
  }
  error_.message = std::move(message);
  error_.pos = pos;
  error_.incomplete = true;
  return ReadStatus::Incomplete;
}

void Reader::skip_whitespace_and_comments() {
  while (!at_end()) {
    char c = peek();
    if (is_whitespace(c)) {
      advance();
    } else if (c == ';') {
      while (!at_end() && peek() != '\n') {
        advance();
      }
    } else {
      return;
    }
  }
}

std::string_view Reader::scan_token() {
  size_t start = pos_;
  while (!at_end() && !is_terminator(peek())) {
    advance();
  }
  return src_.substr(start, pos_ - start);
}

ReadStatus Reader::push(FrameKind kind, SourcePos pos, const char* opener, Value wrap) {
  if (frames_.size() >= kMaxReadDepth) {
    return fail(pos, "forms are nested too deeply (more than " + std::to_string(kMaxReadDepth) +
                         " levels) at " + pos_text(pos));
  }
  frames_.push_back(Frame{kind, pos, opener, items_.size(), wrap});
  return ReadStatus::Ok;
}

ReadStatus Reader::next(Value* out) {
  frames_.clear();
  items_.clear();
  fn_frame_ = -1;
  for (;;) {
    skip_whitespace_and_comments();
    if (at_end()) {
      if (frames_.empty()) {
        if (limit_ < src_.size()) {
          return fail(here(), "invalid UTF-8 at " + pos_text(here()));
        }
        return ReadStatus::End;
      }
      const Frame& f = frames_.back();
      std::string what;
      switch (f.kind) {
        case FrameKind::List:
          what = "unterminated list";
          break;
        case FrameKind::Vector:
          what = "unterminated vector";
          break;
        case FrameKind::Map:
          what = "unterminated map";
          break;
        case FrameKind::Set:
          what = "unterminated set";
          break;
        case FrameKind::Fn:
          what = "unterminated #()";
          break;
        case FrameKind::Wrap:
        case FrameKind::Discard:
          return fail_end(f.pos, std::string("end of input after ") + f.opener + " at " +
                                     pos_text(f.pos) + ": a form must follow it");
      }
      return fail_end(f.pos, what + " starting at " + pos_text(f.pos));
    }

    SourcePos start = here();
    SourcePos form_pos = start;
    Value v;
    ReadStatus st = ReadStatus::Ok;
    bool pushed = false;
    switch (peek()) {
      case '(':
        advance();
        st = push(FrameKind::List, start, "(");
        pushed = true;
        break;
      case '[':
        advance();
        st = push(FrameKind::Vector, start, "[");
        pushed = true;
        break;
      case '{':
        advance();
        st = push(FrameKind::Map, start, "{");
        pushed = true;
        break;
      case ')':
      case ']':
      case '}': {
        char c = peek();
        advance();
        st = close(c, start, &v, &form_pos);
        break;
      }
      case '"':
        st = read_string(start, &v);
        break;
      case '\\':
        st = read_char_literal(start, &v);
        break;
      case '\'':
        advance();
        st = push(FrameKind::Wrap, start, "'", heap_.symbol("quote"));
        pushed = true;
        break;
      case '`':
        advance();
        st = push(FrameKind::Wrap, start, "`", heap_.symbol("syntax-quote"));
        pushed = true;
        break;
      case '@':
        advance();
        st = push(FrameKind::Wrap, start, "@", heap_.symbol("deref"));
        pushed = true;
        break;
      case '~':
        advance();
        if (peek() == '@') {
          advance();
          st = push(FrameKind::Wrap, start, "~@", heap_.symbol("unquote-splicing"));
        } else {
          st = push(FrameKind::Wrap, start, "~", heap_.symbol("unquote"));
        }
        pushed = true;
        break;
      case '^':
        return fail(start, "metadata (^) is not supported, at " + pos_text(start));
      case '#':
        st = read_dispatch(start, &v, &pushed);
        break;
      default:
        st = read_atom(start, &v);
        break;
    }
    if (st != ReadStatus::Ok) {
      return st;
    }
    if (pushed) {
      continue;
    }

    // Deliver the finished form to whatever is open, innermost first.
    // Reader macros complete as soon as their form does, so one form may
    // complete several of them: ''x is (quote (quote x)).
    for (;;) {
      if (frames_.empty()) {
        *out = v;
        return ReadStatus::Ok;
      }
      Frame& f = frames_.back();
      if (f.kind == FrameKind::Wrap) {
        v = heap_.list({f.wrap_symbol, v});
        record(v, f.pos);
        form_pos = f.pos;
        frames_.pop_back();
        continue;
      }
      if (f.kind == FrameKind::Discard) {
        frames_.pop_back();
        break;
      }
      items_.push_back(Item{v, form_pos});
      break;
    }
  }
}

// ---------------------------------------------------------------------------
// Closing delimiters and collection building

ReadStatus Reader::close(char c, SourcePos pos, Value* out, SourcePos* form_pos) {
  std::string unexpected = std::string("unexpected '") + c + "' at " + pos_text(pos);
  if (frames_.empty()) {
    return fail(pos, unexpected);
  }
  Frame f = frames_.back();
  if (f.kind == FrameKind::Wrap || f.kind == FrameKind::Discard) {
    return fail(pos,
                unexpected + ": a form must follow the " + f.opener + " at " + pos_text(f.pos));
  }
  char expected = f.kind == FrameKind::Vector                              ? ']'
                  : (f.kind == FrameKind::Map || f.kind == FrameKind::Set) ? '}'
                                                                           : ')';
  if (c != expected) {
    return fail(pos, std::string("mismatched '") + c + "' at " + pos_text(pos) + ": expected '" +
                         expected + "' to close the '" + f.opener + "' at " + pos_text(f.pos));
  }
  ReadStatus st = ReadStatus::Ok;
  std::vector<Value> values;
  values.reserve(items_.size() - f.first_item);
  for (size_t i = f.first_item; i < items_.size(); i++) {
    values.push_back(items_[i].value);
  }
  switch (f.kind) {
    case FrameKind::List:
      *out = heap_.list(values.data(), values.size());
      break;
    case FrameKind::Vector:
      *out = vector_from(heap_, values.data(), values.size());
      break;
    case FrameKind::Map:
      st = build_map(f, out);
      break;
    case FrameKind::Set:
      st = build_set(f, out);
      break;
    case FrameKind::Fn:
      *out = heap_.list(values.data(), values.size());
      break;
    default:
      break;
  }
  if (st != ReadStatus::Ok) {
    return st;
  }
  frames_.pop_back();
  items_.resize(f.first_item);
  // Empty collections get no position: they may be shared singletons, and
  // a position recorded on one would show up on every other.
  if (!values.empty()) {
    record(*out, f.pos);
  }
  if (f.kind == FrameKind::Fn) {
    *out = build_fn(f, *out);
    fn_frame_ = -1;
  }
  *form_pos = f.pos;
  return ReadStatus::Ok;
}

namespace {

// Finds the first item (a key of a map when `stride` is 2) equal to an
// earlier one, or returns items.size().
size_t first_duplicate(const std::vector<Item>& items, size_t first, size_t stride) {
  std::unordered_multimap<uint64_t, size_t> seen;
  for (size_t i = first; i < items.size(); i += stride) {
    uint64_t h = hash(items[i].value);
    auto range = seen.equal_range(h);
    for (auto it = range.first; it != range.second; ++it) {
      if (equal(items[it->second].value, items[i].value)) {
        return i;
      }
    }
    seen.emplace(h, i);
  }
  return items.size();
}

}  // namespace

ReadStatus Reader::build_map(const Frame& f, Value* out) {
  size_t n = items_.size() - f.first_item;
  if (n % 2 != 0) {
    return fail(f.pos, "map literal needs an even number of forms: the map starting at " +
                           pos_text(f.pos) + " has " + std::to_string(n));
  }
  std::vector<Value> kvs;
  kvs.reserve(n);
  for (size_t i = f.first_item; i < items_.size(); i++) {
    kvs.push_back(items_[i].value);
  }
  *out = map_from(heap_, kvs.data(), n / 2);
  if (map_count(*out) != n / 2) {
    size_t d = first_duplicate(items_, f.first_item, 2);
    if (d < items_.size()) {
      return fail(items_[d].pos, "duplicate key " + describe(items_[d].value) + " at " +
                                     pos_text(items_[d].pos) + " in the map starting at " +
                                     pos_text(f.pos));
    }
    return fail(f.pos, "duplicate key in the map starting at " + pos_text(f.pos));
  }
  return ReadStatus::Ok;
}

ReadStatus Reader::build_set(const Frame& f, Value* out) {
  size_t n = items_.size() - f.first_item;
  std::vector<Value> values;
  values.reserve(n);
  for (size_t i = f.first_item; i < items_.size(); i++) {
    values.push_back(items_[i].value);
  }
  *out = set_from(heap_, values.data(), n);
  if (set_count(*out) != n) {
    size_t d = first_duplicate(items_, f.first_item, 1);
    if (d < items_.size()) {
      return fail(items_[d].pos, "duplicate element " + describe(items_[d].value) + " at " +
                                     pos_text(items_[d].pos) + " in the set starting at " +
                                     pos_text(f.pos));
    }
    return fail(f.pos, "duplicate element in the set starting at " + pos_text(f.pos));
  }
  return ReadStatus::Ok;
}

// #(body...) becomes (fn [%1 ... %n & %&] (body...)), where n is the
// highest %n the body used (% counts as %1).
Value Reader::build_fn(const Frame& f, Value body) {
  std::vector<Value> params;
  for (int i = 1; i <= fn_max_arg_; i++) {
    params.push_back(heap_.symbol("%" + std::to_string(i)));
  }
  if (fn_rest_arg_) {
    params.push_back(heap_.symbol("&"));
    params.push_back(heap_.symbol("%&"));
  }
  Value param_vector = vector_from(heap_, params.data(), params.size());
  if (!params.empty()) {
    record(param_vector, f.pos);
  }
  Value form = heap_.list({heap_.symbol("fn"), param_vector, body});
  record(form, f.pos);
  return form;
}

// ---------------------------------------------------------------------------
// Dispatch macros (#...)

ReadStatus Reader::read_dispatch(SourcePos start, Value* out, bool* pushed) {
  advance();  // the #
  if (at_end()) {
    return fail_end(start, "end of input after # at " + pos_text(start));
  }
  switch (peek()) {
    case '{':
      advance();
      *pushed = true;
      return push(FrameKind::Set, start, "#{");
    case '(': {
      if (fn_frame_ >= 0) {
        return fail(start, "nested #() are not allowed: the #( at " + pos_text(start) +
                               " is inside the one at " + pos_text(frames_[fn_frame_].pos));
      }
      advance();
      *pushed = true;
      ReadStatus st = push(FrameKind::Fn, start, "#(");
      fn_frame_ = static_cast<ptrdiff_t>(frames_.size()) - 1;
      fn_max_arg_ = 0;
      fn_rest_arg_ = false;
      return st;
    }
    case '_':
      advance();
      *pushed = true;
      return push(FrameKind::Discard, start, "#_");
    case '#': {
      advance();
      std::string_view tok = scan_token();
      if (tok == "Inf") {
        *out = Value::number(std::numeric_limits<double>::infinity());
      } else if (tok == "-Inf") {
        *out = Value::number(-std::numeric_limits<double>::infinity());
      } else if (tok == "NaN") {
        *out = Value::number(std::numeric_limits<double>::quiet_NaN());
      } else if (tok.empty() && at_end()) {
        return fail_end(start, "end of input after ## at " + pos_text(start));
      } else {
        return fail(start, "unknown symbolic value ##" + std::string(tok) + " at " +
                               pos_text(start) + " (expected ##Inf, ##-Inf or ##NaN)");
      }
      return ReadStatus::Ok;
    }
    case '"':
      return fail(start, "regex literals (#\"...\") are not supported, at " + pos_text(start));
    case '\'':
      return fail(start, "var quotes (#') are not supported, at " + pos_text(start));
    default: {
      if (is_whitespace(peek()) || is_control(peek())) {
        return fail(start, "a # must not be followed by whitespace, at " + pos_text(start));
      }
      size_t b = pos_;
      advance_code_point();
      return fail(start, "unknown reader macro #" + std::string(src_.substr(b, pos_ - b)) + " at " +
                             pos_text(start));
    }
  }
}

}  // namespace reader_detail

// ---------------------------------------------------------------------------
// Entry points

std::string ReadError::to_string(const Heap& heap) const {
  return heap.file_name(pos.file) + ":" + reader_detail::pos_text(pos) + ": " + message;
}

namespace {
bool too_large(std::string_view source) {
  return source.size() >= std::numeric_limits<uint32_t>::max();
}
}  // namespace

ReadResult read_all(Heap& heap, std::string_view source, std::string_view file_name) {
  ReadResult result;
  if (too_large(source)) {
    result.error.message = "source is too large (4 GiB or more)";
    result.error.pos = SourcePos{heap.file_id(file_name), 1, 1};
    return result;
  }
  reader_detail::Reader reader(heap, source, file_name, 0);
  for (;;) {
    Value form;
    switch (reader.next(&form)) {
      case ReadStatus::Ok:
        result.forms.push_back(form);
        break;
      case ReadStatus::End:
        result.ok = true;
        return result;
      case ReadStatus::Incomplete:
      case ReadStatus::Error:
        result.forms.clear();
        result.error = reader.error();
        return result;
    }
  }
}

ReadOneResult read_one(Heap& heap, std::string_view source, std::string_view file_name,
                       size_t offset) {
  ReadOneResult result;
  if (too_large(source)) {
    result.status = ReadStatus::Error;
    result.error.message = "source is too large (4 GiB or more)";
    result.error.pos = SourcePos{heap.file_id(file_name), 1, 1};
    return result;
  }
  if (offset > source.size()) {
    offset = source.size();
  }
  reader_detail::Reader reader(heap, source, file_name, offset);
  result.status = reader.next(&result.form);
  result.end = reader.offset();
  if (result.status == ReadStatus::Incomplete || result.status == ReadStatus::Error) {
    result.error = reader.error();
    result.end = offset;
  }
  return result;
}

}  // namespace valk::lisp
