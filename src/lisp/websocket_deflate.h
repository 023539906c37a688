// permessage-deflate (RFC 7692): a WebSocket message's payload compressed
// as raw deflate, ended with an empty stored block whose last four bytes
// (00 00 ff ff) are left off. This side compresses each message afresh
// (it always negotiates no context takeover for itself), with a window
// and hash tables fitted to the message; the peer may keep its window from
// message to message ("context takeover") or start afresh too, and then
// no zlib state is held between messages, so an idle WebSocket costs
// nothing here.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace valk::lisp {

class MessageDeflate {
 public:
  // `window_bits` (9-15) bounds the window of what this side compresses;
  // `reset_in`: the peer's compressor starts afresh for every message.
  MessageDeflate(int window_bits, bool reset_in) : window_bits_(window_bits), reset_in_(reset_in) {}
  MessageDeflate(const MessageDeflate&) = delete;
  MessageDeflate& operator=(const MessageDeflate&) = delete;
  ~MessageDeflate() { end_in(); }

  // Compresses `in` into *out; false if zlib failed (out of memory).
  bool compress(std::string_view in, std::string* out) const;

  enum class Inflated { kOk, kTooBig, kCorrupt };
  // Decompresses a message's payload into *out, stopping past `max` bytes
  // (a small message may inflate to gigabytes).
  Inflated decompress(std::string_view in, size_t max, std::string* out);

 private:
  void end_in();

  int window_bits_;
  bool reset_in_;
  z_stream in_{};
  bool in_ready_ = false;
};

}  // namespace valk::lisp
