// Fuzzes the WebSocket codec (src/lisp/builtins_websocket.cc) with what a
// client may send after its handshake: any bytes, in reads of any size.
// Whatever comes, the codec gives messages, output and errors, never a
// crash, and every text message and close reason it gives is valid UTF-8
// (a Lisp string must be), however much a compressed message inflates. The
// first byte sets the size of the reads the rest is cut in (its low six
// bits) and whether the codec takes permessage-deflate (0x80), keeping the
// client's window from message to message (0x40).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lisp/collections.h"
#include "lisp/heap.h"
#include "lisp/object.h"
#include "lisp/utf8.h"
#include "native_harness.h"

using namespace valk::lisp;
using valk::fuzz::call;
using valk::fuzz::isolate;

namespace {

// Takes every message the codec has whole, and its output.
void drain(Value codec) {
  Value r;
  for (;;) {
    if (!call("ws/codec-message", {codec}, &r)) {
      __builtin_trap();
    }
    if (r.is_nil()) {
      break;
    }
    if (r.is(Tag::String) ? !utf8_valid(static_cast<String*>(r.o)->view()) : !r.is(Tag::Bytes)) {
      __builtin_trap();
    }
  }
  if (!call("ws/codec-output", {codec}, &r) || !(r.is_nil() || r.is(Tag::Bytes))) {
    __builtin_trap();
  }
  // A close's reason becomes a string too.
  if (!call("ws/codec-close-status", {codec}, &r) || !(r.is_nil() || r.is(Tag::Map))) {
    __builtin_trap();
  }
  Value reason;
  if (r.is(Tag::Map) &&
      (!map_find(r, isolate().heap().keyword("reason"), &reason) || !reason.is(Tag::String) ||
       !utf8_valid(static_cast<String*>(reason.o)->view()))) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  Isolate& iso = isolate();
  Heap& h = iso.heap();
  size_t piece = 1 + (data[0] & 0x3f);
  bool deflate = (data[0] & 0x80) != 0, takeover = (data[0] & 0x40) != 0;
  data++;
  size--;
  piece = std::max(piece, size / 64);  // at most ~64 reads: each is three calls into the VM
  Value codec;
  // A small limit, so that messages over it (close 1009) are reached too.
  Value terms;
  if (deflate) {
    Value kvs[] = {h.keyword("window-bits"), Value::integer(15), h.keyword("reset-in"),
                   Value::boolean(!takeover)};
    terms = map_from(h, kvs, 2);
  }
  if (!call("ws/codec", {Value::integer(4096), h.keyword("server"), terms}, &codec)) {
    __builtin_trap();
  }
  uint32_t slot = iso.root(codec);  // across the calls below
  Value r;
  for (size_t at = 0; at < size; at += piece) {
    size_t n = size - at < piece ? size - at : piece;
    if (!call("ws/codec-feed", {codec, val(h.make_bytes(data + at, n))}, &r)) {
      __builtin_trap();
    }
    drain(codec);
  }
  // Sending after whatever came: done, or :websocket-closed.
  // (Long enough to go compressed.)
  bool sent = call("ws/codec-send", {codec, h.string(std::string(100, 'r'))}, &r);
  if (!sent && !r.is(Tag::Error)) {
    __builtin_trap();
  }
  if (!call("ws/codec-close", {codec, Value::integer(1000), h.string("bye")}, &r)) {
    __builtin_trap();
  }
  drain(codec);
  // Freed now, as valk/websocket does when a WebSocket ends: left to the
  // collector, what the codec holds outside the heap would outlive the run.
  if (!call("ws/codec-free", {codec}, &r) || call("ws/codec-output", {codec}, &r)) {
    __builtin_trap();
  }
  iso.unroot(slot);
  return 0;
}
