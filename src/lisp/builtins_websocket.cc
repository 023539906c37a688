// WebSocket framing (RFC 6455), on wslay's event API: a codec that takes
// the bytes the other side sent and gives its messages, and takes messages
// and gives the bytes to send. It does no I/O: valk/websocket (Lisp) reads
// the upgraded connection with read-chunk and writes it with write (a
// client's with http/write), so that a WebSocket waits and is cancelled as
// any response stream is.
//
//   (ws/accept-key key)         Sec-WebSocket-Accept for a Sec-WebSocket-Key, or nil
//                               if the key is not 16 bytes in base64 (RFC 6455, 4.1)
//   (ws/client-key)             a fresh Sec-WebSocket-Key, for a client's handshake
//   (ws/codec max-message)      a server-side codec; messages up to max-message bytes
//   (ws/codec max-message :client)  a client's (its frames masked)
//   (ws/codec max-message role deflate)  role :server or :client; deflate nil, or
//                               permessage-deflate as negotiated (RFC 7692):
//                               {:window-bits 9-15 :reset-in bool}: the window of
//                               what this side compresses (each message afresh),
//                               and whether the peer compresses each afresh
//   (ws/codec-feed c bytes)     takes input; answers pings and a close by itself
//   (ws/codec-message c)        the next message received (a string for text,
//                               bytes for binary), or nil if none is whole yet
//   (ws/codec-open? c)          false once the peer's close came, or its input
//                               broke the protocol (the codec then queues a close)
//   (ws/codec-send c msg)       queues a message: a string as text, bytes as binary
//   (ws/codec-ping c data)      queues a ping
//   (ws/codec-close c code reason)  queues a close frame
//   (ws/codec-output c)         the bytes queued to send, or nil
//   (ws/codec-close-status c)   {:code n :reason s} of the close received, or nil
//   (ws/codec-free c)           frees the codec's memory now, not at its collection;
//                               the calls above then raise :websocket-closed
//
// Leaf natives: they allocate, never call Lisp.
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/heap.h"
#include "lisp/isolate.h"
#include "lisp/object.h"
#include "lisp/utf8.h"
#include "lisp/websocket_deflate.h"
#include "util/os_random.h"

namespace valk::lisp {
namespace {

constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
// Messages shorter than this go uncompressed even with permessage-deflate.
constexpr size_t kCompressFrom = 64;

struct Message {
  bool text;
  std::string data;
};

// Lives outside the heap: wslay's callbacks get its address.
struct Codec {
  Codec() = default;
  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;
  ~Codec() { wslay_event_context_free(ctx); }

  wslay_event_context_ptr ctx = nullptr;
  std::unique_ptr<MessageDeflate> deflate;  // with permessage-deflate
  size_t max_message = 0;
  bool failed = false;     // a close for the peer's broken input is queued
  std::string_view input;  // being fed
  std::string output;      // framed, not yet taken
  std::deque<Message> messages;
  bool close_received = false;
  uint16_t close_code = 0;
  std::string close_reason;
};

struct CodecObj : ClassObj {
  Codec* codec;  // nullptr once freed
};

const ObjClass kCodecClass = {"websocket-codec", [](Obj*, Tracer&) {},
                              [](Obj* self) { delete static_cast<CodecObj*>(self)->codec; }};

ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, int, void* user) {
  Codec* c = static_cast<Codec*>(user);
  if (c->input.empty()) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = std::min(len, c->input.size());
  memcpy(buf, c->input.data(), n);
  c->input.remove_prefix(n);
  return static_cast<ssize_t>(n);
}

ssize_t on_send(wslay_event_context_ptr, const uint8_t* data, size_t len, int, void* user) {
  static_cast<Codec*>(user)->output.append(reinterpret_cast<const char*>(data), len);
  return static_cast<ssize_t>(len);
}

// The peer broke the protocol in a way wslay cannot see: closes with
// `code` and reads no more.
void fail(Codec* c, uint16_t code) {
  c->failed = true;
  wslay_event_queue_close(c->ctx, code, nullptr, 0);
  wslay_event_shutdown_read(c->ctx);
}

void on_message(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* arg, void* user) {
  Codec* c = static_cast<Codec*>(user);
  if (c->failed) {
    return;
  }
  if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME) {
    bool text = arg->opcode == WSLAY_TEXT_FRAME;
    std::string_view payload(reinterpret_cast<const char*>(arg->msg), arg->msg_length);
    if ((arg->rsv & WSLAY_RSV1_BIT) == 0) {
      c->messages.push_back(Message{text, std::string(payload)});
      return;
    }
    // Compressed (wslay lets RSV1 through only with deflate on, and checks
    // no UTF-8 of a compressed text).
    Message m{text, {}};
    switch (c->deflate->decompress(payload, c->max_message, &m.data)) {
      case MessageDeflate::Inflated::kOk:
        if (text && !utf8_valid(m.data)) {
          fail(c, 1007);
          return;
        }
        c->messages.push_back(std::move(m));
        return;
      case MessageDeflate::Inflated::kTooBig:
        fail(c, 1009);
        return;
      case MessageDeflate::Inflated::kCorrupt:
        fail(c, 1002);
        return;
    }
  } else if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
    c->close_received = true;
    c->close_code = arg->status_code;
    if (arg->msg_length > 2) {
      std::string_view reason(reinterpret_cast<const char*>(arg->msg) + 2, arg->msg_length - 2);
      // wslay lets some malformed UTF-8 through here (fuzz_websocket found
      // it), and a Lisp string must be valid: such a reason is dropped.
      if (utf8_valid(reason)) {
        c->close_reason = reason;
      }
    }
  }
}

Codec* codec_arg(Isolate& iso, const char* fn, Value v, Value* raised) {
  if (!v.is(Tag::Internal) || static_cast<ClassObj*>(v.o)->cls != &kCodecClass) {
    *raised = iso.type_error(fn, "a websocket codec", v);
    return nullptr;
  }
  Codec* c = static_cast<CodecObj*>(v.o)->codec;
  if (c == nullptr) {
    *raised = iso.raise_error("websocket-closed", std::string(fn) + ": the WebSocket is over");
  }
  return c;
}

Value n_free(Isolate& iso, Value* args, int) {
  Value raised;
  if (codec_arg(iso, "ws/codec-free", args[0], &raised) == nullptr) {
    return raised;
  }
  auto* o = static_cast<CodecObj*>(args[0].o);
  delete o->codec;
  o->codec = nullptr;
  return Value::nil();
}

// Base64 of `n` bytes.
Value base64(Isolate& iso, const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return iso.heap().string(out);
}

Value n_accept_key(Isolate& iso, Value* args, int) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("ws/accept-key", "a string", args[0]);
  }
  std::string text(static_cast<String*>(args[0].o)->view());
  // 16 bytes are 24 characters of base64, the last two "=" padding.
  unsigned char key[18];
  if (text.size() != 24 || text.compare(22, 2, "==") != 0 ||
      EVP_DecodeBlock(key, reinterpret_cast<const unsigned char*>(text.data()), 24) != 18) {
    return Value::nil();
  }
  text += kAcceptGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return base64(iso, digest, SHA_DIGEST_LENGTH);
}

Value n_client_key(Isolate& iso, Value*, int) {
  unsigned char key[16];
  if (!os_random(key, sizeof key)) {
    return iso.raise_error("io-error", "ws/client-key: the system's generator failed");
  }
  return base64(iso, key, sizeof key);
}

int on_genmask(wslay_event_context_ptr, uint8_t* buf, size_t len, void*) {
  return os_random(buf, len) ? 0 : -1;
}

bool keyword_is(Value v, std::string_view name) {
  return v.is(Tag::Keyword) && static_cast<Symbol*>(v.o)->name->view() == name;
}

// permessage-deflate's terms from {:window-bits n :reset-in b}.
Value deflate_arg(Isolate& iso, Value v, std::unique_ptr<MessageDeflate>* out) {
  Value bits, reset_in;
  if (!v.is(Tag::Map) || !map_find(v, iso.heap().keyword("window-bits"), &bits) || !bits.is_int() ||
      bits.i < 9 || bits.i > 15) {
    return iso.type_error("ws/codec", "a map with :window-bits from 9 to 15", v);
  }
  map_find(v, iso.heap().keyword("reset-in"), &reset_in);
  *out = std::make_unique<MessageDeflate>(static_cast<int>(bits.i), reset_in.truthy());
  return Value::nil();
}

Value n_codec(Isolate& iso, Value* args, int argc) {
  if (!args[0].is_int() || args[0].i < 1) {
    return iso.type_error("ws/codec", "a positive message size", args[0]);
  }
  bool client = argc > 1 && keyword_is(args[1], "client");
  if (argc > 1 && !client && !keyword_is(args[1], "server")) {
    return iso.type_error("ws/codec", ":server or :client", args[1]);
  }
  std::unique_ptr<MessageDeflate> deflate;
  if (argc > 2 && !args[2].is_nil()) {
    Value raised = deflate_arg(iso, args[2], &deflate);
    if (!raised.is_nil()) {
      return raised;
    }
  }
  static const wslay_event_callbacks kCallbacks = {on_recv, on_send, on_genmask, nullptr,
                                                   nullptr, nullptr, on_message};
  auto* c = new Codec;
  if ((client ? wslay_event_context_client_init(&c->ctx, &kCallbacks, c)
              : wslay_event_context_server_init(&c->ctx, &kCallbacks, c)) != 0) {
    delete c;
    return iso.raise_error("error", "ws/codec: out of memory");
  }
  // Compressed, a message is smaller than its max; decompress checks that.
  wslay_event_config_set_max_recv_msg_length(c->ctx, static_cast<uint64_t>(args[0].i));
  c->max_message = static_cast<size_t>(args[0].i);
  if (deflate != nullptr) {
    wslay_event_config_set_allowed_rsv_bits(c->ctx, WSLAY_RSV1_BIT);
    c->deflate = std::move(deflate);
  }
  auto* o = iso.heap().make_class<CodecObj>(Tag::Internal, &kCodecClass);
  o->codec = c;
  return val(o);
}

Value n_feed(Isolate& iso, Value* args, int) {
  Value raised;
  Codec* c = codec_arg(iso, "ws/codec-feed", args[0], &raised);
  if (c == nullptr) {
    return raised;
  }
  if (!text_or_bytes(args[1], &c->input)) {
    return iso.type_error("ws/codec-feed", "bytes", args[1]);
  }
  // An error here is the peer's: wslay has queued the close that says so
  // and stopped reading, which ws/codec-open? reports.
  wslay_event_recv(c->ctx);
  c->input = {};
  return Value::nil();
}

Value n_message(Isolate& iso, Value* args, int) {
  Value raised;
  Codec* c = codec_arg(iso, "ws/codec-message", args[0], &raised);
  if (c == nullptr) {
    return raised;
  }
  if (c->messages.empty()) {
    return Value::nil();
  }
  Message m = std::move(c->messages.front());
  c->messages.pop_front();
  if (m.text) {
    return iso.heap().string(m.data);
  }
  return val(iso.heap().make_bytes(reinterpret_cast<const uint8_t*>(m.data.data()), m.data.size()));
}

Value n_open(Isolate& iso, Value* args, int) {
  Value raised;
  Codec* c = codec_arg(iso, "ws/codec-open?", args[0], &raised);
  if (c == nullptr) {
    return raised;
  }
  return Value::boolean(wslay_event_get_read_enabled(c->ctx) != 0);
}

// Queues a frame (`rsv` WSLAY_RSV1_BIT for a compressed message); false
// (with the error in *raised) once a close went out.
bool queue(Isolate& iso, const char* fn, Codec* c, uint8_t opcode, std::string_view data,
           Value* raised, uint8_t rsv = WSLAY_RSV_NONE) {
  wslay_event_msg m = {opcode, reinterpret_cast<const uint8_t*>(data.data()), data.size()};
  int rc = wslay_event_queue_msg_ex(c->ctx, &m, rsv);
  if (rc == WSLAY_ERR_NO_MORE_MSG) {
    *raised = iso.raise_error("websocket-closed", std::string(fn) + ": the WebSocket is closing");
    return false;
  }
  if (rc != 0) {
    *raised = iso.raise_error("argument-error", std::string(fn) + ": wslay refused the frame");
    return false;
  }
  return true;
}

Value n_send(Isolate& iso, Value* args, int) {
  Value raised;
  Codec* c = codec_arg(iso, "ws/codec-send", args[0], &raised);
  if (c == nullptr) {
    return raised;
  }
  std::string_view data;
  if (!text_or_bytes(args[1], &data)) {
    return iso.type_error("ws/send", "a string or bytes", args[1]);
  }
  uint8_t opcode = args[1].is(Tag::String) ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME;
  // A short message gains nothing from deflate but its cost; one that
  // does not shrink goes as it is.
  std::string compressed;
  if (c->deflate != nullptr && data.size() >= kCompressFrom) {
    if (!c->deflate->compress(data, &compressed)) {
      return iso.raise_error("error", "ws/send: zlib failed (out of memory)");
    }
    if (compressed.size() < data.size()) {
      return queue(iso, "ws/send", c, opcode, compressed, &raised, WSLAY_RSV1_BIT) ? Value::nil()
                                                                                   : raised;
    }
  }
  if (!queue(iso, "ws/send", c, opcode, data, &raised)) {
    return raised;
  }
  return Value::nil();
}

Value n_ping(Isolate& iso, Value* args, int n) {
  Value raised;
  Codec* c = codec_arg(iso, "ws/codec-ping", args[0], &raised);
  if (c == nullptr) {
    return raised;
  }
  std::string_view data;
  if (n > 1 && !text_or_bytes(args[1], &data)) {
    return iso.type_error("ws/ping", "a string or bytes", args[1]);
  }
  if (data.size() > 125) {
    return iso.raise_error("argument-error", "ws/ping: at most 125 bytes of data");
  }
  if (!queue(iso, "ws/ping", c, WSLAY_PING, data, &raised)) {
    return raised;
  }
  return Value::nil();
}

Value n_close(Isolate& iso, Value* args, int) {
  Value raised;
  Codec* c = codec_arg(iso, "ws/codec-close", args[0], &raised);
  if (c == nullptr) {
    return raised;
  }
  if (!args[1].is_int() || args[1].i < 1000 || args[1].i > 4999) {
    return iso.type_error("ws/close", "a close code from 1000 to 4999", args[1]);
  }
  std::string_view reason;
  if (!args[2].is_nil() && !text_or_bytes(args[2], &reason)) {
    return iso.type_error("ws/close", "a string", args[2]);
  }
  if (reason.size() > 123) {
    return iso.raise_error("argument-error", "ws/close: a reason of at most 123 bytes");
  }
  int rc = wslay_event_queue_close(c->ctx, static_cast<uint16_t>(args[1].i),
                                   reinterpret_cast<const uint8_t*>(reason.data()), reason.size());
  // A second close is no error: the first one stands.
  if (rc != 0 && rc != WSLAY_ERR_NO_MORE_MSG) {
    return iso.raise_error("argument-error", "ws/close: wslay refused the close frame");
  }
  return Value::nil();
}

Value n_output(Isolate& iso, Value* args, int) {
  Value raised;
  Codec* c = codec_arg(iso, "ws/codec-output", args[0], &raised);
  if (c == nullptr) {
    return raised;
  }
  wslay_event_send(c->ctx);
  if (c->output.empty()) {
    return Value::nil();
  }
  Value out = val(
      iso.heap().make_bytes(reinterpret_cast<const uint8_t*>(c->output.data()), c->output.size()));
  c->output.clear();
  return out;
}

Value n_close_status(Isolate& iso, Value* args, int) {
  Value raised;
  Codec* c = codec_arg(iso, "ws/codec-close-status", args[0], &raised);
  if (c == nullptr) {
    return raised;
  }
  if (!c->close_received) {
    return Value::nil();
  }
  Heap& h = iso.heap();
  Value kv[] = {h.keyword("code"),
                c->close_code == 0 ? Value::nil() : Value::integer(c->close_code),
                h.keyword("reason"), h.string(c->close_reason)};
  return map_from(h, kv, 2);
}

}  // namespace

void register_websocket_natives(Isolate& iso) {
  iso.define_native("ws/accept-key", n_accept_key, 1, 1);
  iso.define_native("ws/client-key", n_client_key, 0, 0);
  iso.define_native("ws/codec", n_codec, 1, 3);
  iso.define_native("ws/codec-feed", n_feed, 2, 2);
  iso.define_native("ws/codec-message", n_message, 1, 1);
  iso.define_native("ws/codec-open?", n_open, 1, 1);
  iso.define_native("ws/codec-send", n_send, 2, 2);
  iso.define_native("ws/codec-ping", n_ping, 1, 2);
  iso.define_native("ws/codec-close", n_close, 3, 3);
  iso.define_native("ws/codec-output", n_output, 1, 1);
  iso.define_native("ws/codec-close-status", n_close_status, 1, 1);
  iso.define_native("ws/codec-free", n_free, 1, 1);
}

}  // namespace valk::lisp
