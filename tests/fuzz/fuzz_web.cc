// Fuzzes the web natives (src/lisp/builtins_web.cc), which parse what
// clients send: any input must give a value or a Lisp error, never a crash,
// and the results must keep their promises:
//   - url-decode gives valid UTF-8, and decoding what url-encode gives
//     returns the decoded text;
//   - escape-html leaves no < > " ' in its result;
//   - path-segments gives one segment per slash;
//   - parse-query and parse-cookies give maps;
//   - web/accepted-q (the static handler's Accept-Encoding reading) gives
//     a number from 0 to 1, never NaN;
//   - web/render-html, on whatever the reader makes of the input, gives a
//     string or an :html-error.
// The input's bytes above 0x7F become %XX escapes, so the text handed to
// Lisp is a valid string that still holds every malformed escape.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "lisp/heap.h"
#include "lisp/object.h"
#include "lisp/reader.h"
#include "native_harness.h"

using namespace valk::lisp;
using valk::fuzz::call;
using valk::fuzz::isolate;

namespace {

std::string text(Value v) {
  if (!v.is(Tag::String)) {
    __builtin_trap();
  }
  return std::string(static_cast<String*>(v.o)->view());
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || i + n > s.size()) {
      return false;
    }
    for (size_t k = 1; k < n; k++) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        return false;
      }
    }
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string s;
  for (size_t i = 0; i < size; i++) {
    if (data[i] < 0x80) {
      s += static_cast<char>(data[i]);
    } else {
      s += '%';
      s += kHex[data[i] >> 4];
      s += kHex[data[i] & 15];
    }
  }
  Isolate& iso = isolate();
  Heap& h = iso.heap();
  Value r;

  for (bool plus : {false, true}) {
    if (!call("web/url-decode", {h.string(s), Value::boolean(plus)}, &r)) {
      __builtin_trap();
    }
    std::string decoded = text(r);
    if (!valid_utf8(decoded)) {
      __builtin_trap();
    }
    if (!call("web/url-encode", {h.string(decoded)}, &r)) {
      __builtin_trap();
    }
    std::string encoded = text(r);
    if (!call("web/url-decode", {h.string(encoded)}, &r) || text(r) != decoded) {
      __builtin_trap();
    }
    if (!call("web/escape-html", {h.string(decoded)}, &r) ||
        text(r).find_first_of("<>\"'") != std::string::npos) {
      __builtin_trap();
    }
  }

  if (!call("web/path-segments", {h.string("/" + s)}, &r) || !r.is(Tag::Vector)) {
    __builtin_trap();
  }
  if (!call("count", {r}, &r) ||
      r.i != static_cast<int64_t>(s.empty() ? 0 : 1 + std::count(s.begin(), s.end(), '/'))) {
    __builtin_trap();
  }
  if (!call("web/parse-query", {h.string(s)}, &r) || !r.is(Tag::Map)) {
    __builtin_trap();
  }
  if (!call("web/parse-cookies", {h.string(s)}, &r) || !r.is(Tag::Map)) {
    __builtin_trap();
  }
  for (const char* coding : {"gzip", "br"}) {
    if (!call("web/accepted-q", {h.string(s), h.string(coding)}, &r) || !r.is_number()) {
      __builtin_trap();
    }
    double q = r.is_int() ? static_cast<double>(r.i) : r.d;
    if (!(q >= 0 && q <= 1)) {
      __builtin_trap();
    }
  }

  ReadResult forms = read_all(h, s, "fuzz.lisp");
  if (forms.ok) {
    // One call over a list of every form: the list is the call's argument,
    // so the collector sees the forms while the native runs.
    bool ok = call("web/render-html", {h.list(forms.forms.data(), forms.forms.size())}, &r);
    if (ok ? !r.is(Tag::String) : !r.is(Tag::Error)) {
      __builtin_trap();
    }
  }
  // Nothing is held now, so this is a safe point: without it the garbage
  // of a long run would only grow, as natives alone never reach one.
  if (h.should_collect()) {
    h.collect();
  }
  return 0;
}
