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

MessageDeflate::~MessageDeflate() {
  end_out();
  end_in();
}

void MessageDeflate::end_out() {
  if (out_ready_) {
    deflateEnd(&out_);
    out_ready_ = false;
  }
}

void MessageDeflate::end_in() {
  if (in_ready_) {
    inflateEnd(&in_);
    in_ready_ = false;
  }
}

bool MessageDeflate::compress(std::string_view in, std::string* out) {
  if (!out_ready_) {
    // Fitted to the message when each starts afresh: a 1 KiB message's
    // compressor takes ~10 KiB where zlib's defaults take 256 KiB (and
    // clear a 64 KiB hash table), the cost of a message that size.
    int bits = reset_out_ ? fitted_window_bits(in.size(), window_bits_) : window_bits_;
    int mem_level = std::clamp(bits - 7, 1, 8);  // zlib's default 8 with a 15-bit window
    out_ = z_stream{};
    if (deflateInit2(&out_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, mem_level,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
      return false;
    }
    out_ready_ = true;
  }
  out->resize(deflateBound(&out_, in.size()) + 16);
  out_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  out_.avail_in = static_cast<uInt>(in.size());
  size_t done = 0;
  int rc;
  do {
    if (done == out->size()) {
      out->resize(out->size() * 2);
    }
    out_.next_out = reinterpret_cast<Bytef*>(out->data() + done);
    out_.avail_out = static_cast<uInt>(out->size() - done);
    rc = deflate(&out_, Z_SYNC_FLUSH);
    done = out->size() - out_.avail_out;
  } while (rc == Z_OK && (out_.avail_in != 0 || out_.avail_out == 0));
  if (rc != Z_OK && rc != Z_BUF_ERROR) {
    end_out();
    return false;
  }
  // A sync flush ends with the empty stored block the receiver adds back.
  out->resize(done >= 4 ? done - 4 : done);
  if (reset_out_) {
    end_out();
  }
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
