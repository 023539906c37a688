#include "lisp/websocket_deflate.h"

#include <algorithm>

namespace valk::lisp {

namespace {

constexpr char kTail[] = {0x00, 0x00, static_cast<char>(0xff), static_cast<char>(0xff)};

// The smallest window (9 bits at least) that holds `n` bytes: a message
// compressed afresh refers to nothing before it, so a larger window would
// only cost its memory, and setting it up.
int fitted_window_bits(size_t n, int most) {
  int bits = 9;
  while (bits < most && (size_t{1} << bits) < n) {
    bits++;
  }
  return bits;
}

}  // namespace

void MessageDeflate::end_in() {
  if (in_ready_) {
    inflateEnd(&in_);
    in_ready_ = false;
  }
}

bool MessageDeflate::compress(std::string_view in, std::string* out) const {
  // Fitted to the message: a 1 KiB message's compressor takes ~10 KiB
  // where zlib's defaults take 256 KiB (and clear a 64 KiB hash table),
  // which cost more than the rest of the message's round trip.
  int bits = fitted_window_bits(in.size(), window_bits_);
  int mem_level = std::clamp(bits - 7, 1, 8);  // zlib's default 8 with a 15-bit window
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, mem_level, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return false;
  }
  out->resize(deflateBound(&z, in.size()) + 16);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  size_t done = 0;
  int rc;
  do {
    if (done == out->size()) {
      out->resize(out->size() * 2);
    }
    z.next_out = reinterpret_cast<Bytef*>(out->data() + done);
    z.avail_out = static_cast<uInt>(out->size() - done);
    rc = deflate(&z, Z_SYNC_FLUSH);
    done = out->size() - z.avail_out;
  } while (rc == Z_OK && (z.avail_in != 0 || z.avail_out == 0));
  deflateEnd(&z);
  if (rc != Z_OK && rc != Z_BUF_ERROR) {
    return false;
  }
  // A sync flush ends with the empty stored block the receiver adds back.
  out->resize(done >= 4 ? done - 4 : done);
  return true;
}

MessageDeflate::Inflated MessageDeflate::decompress(std::string_view in, size_t max,
                                                    std::string* out) {
  if (!in_ready_) {
    in_ = z_stream{};
    // Whatever window the peer chose (at most 15 bits), 15 reads it.
    if (inflateInit2(&in_, -15) != Z_OK) {
      return Inflated::kCorrupt;
    }
    in_ready_ = true;
  }
  out->clear();
  Inflated result = Inflated::kOk;
  char buf[16384];
  for (std::string_view part : {in, std::string_view(kTail, sizeof kTail)}) {
    in_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(part.data()));
    in_.avail_in = static_cast<uInt>(part.size());
    for (;;) {
      in_.next_out = reinterpret_cast<Bytef*>(buf);
      in_.avail_out = sizeof buf;
      int rc = inflate(&in_, Z_SYNC_FLUSH);
      size_t n = sizeof buf - in_.avail_out;
      if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) {
        result = Inflated::kCorrupt;
        break;
      }
      if (out->size() + n > max) {
        result = Inflated::kTooBig;
        break;
      }
      out->append(buf, n);
      if (rc == Z_STREAM_END) {
        // A final block (BFINAL): what follows starts afresh.
        inflateReset(&in_);
      }
      if ((in_.avail_in == 0 && in_.avail_out != 0) || (rc == Z_BUF_ERROR && n == 0)) {
        break;  // all taken and given out, or no progress without more input
      }
    }
    if (result != Inflated::kOk) {
      break;
    }
  }
  if (result != Inflated::kOk || reset_in_) {
    end_in();
  }
  return result;
}

}  // namespace valk::lisp
