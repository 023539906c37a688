// Compression natives, on zlib:
//
//   (gzip data)              the gzip form (RFC 1952) of a string or bytes, as bytes
//   (gzip data level)        level 1 (fastest) to 9 (smallest); 6 by default
//   (gunzip data)            the bytes a gzip stream holds (several members too)
//   (gunzip data max-bytes)  raising :decode-error past max-bytes (default 64 MiB),
//                            so that a small upload cannot unpack to gigabytes
//
// Leaf natives: they allocate, never call Lisp.
#include <zlib.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "lisp/builtins.h"
#include "lisp/heap.h"
#include "lisp/isolate.h"
#include "lisp/object.h"

namespace valk::lisp {
namespace {

constexpr int64_t kDefaultGunzipLimit = int64_t{64} << 20;
// zlib's windowBits for the gzip wrapper (15 + 16); inflate also takes
// zlib's own wrapper with 15 + 32, which gunzip does not.
constexpr int kGzipWindow = 15 + 16;

// zlib counts a call's input in 32 bits.
constexpr size_t kMaxInput = UINT32_MAX;

// The bytes of `fn`'s string or bytes argument `v`; false with the error
// to return in *raised if it is neither, or too long for zlib.
bool input_of(Isolate& iso, const char* fn, Value v, std::string_view* out, Value* raised) {
  if (!text_or_bytes(v, out)) {
    *raised = iso.type_error(fn, "a string or bytes", v);
    return false;
  }
  if (out->size() > kMaxInput) {
    *raised = iso.raise_error("error", std::string(fn) + ": more than 4 GiB at once");
    return false;
  }
  return true;
}

Value n_gzip(Isolate& iso, Value* args, int n) {
  std::string_view in;
  Value raised;
  if (!input_of(iso, "gzip", args[0], &in, &raised)) {
    return raised;
  }
  int level = 6;
  if (n > 1) {
    if (!args[1].is_int() || args[1].i < 1 || args[1].i > 9) {
      return iso.type_error("gzip", "a level from 1 to 9", args[1]);
    }
    level = static_cast<int>(args[1].i);
  }
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, kGzipWindow, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return iso.raise_error("error", "gzip: zlib could not start");
  }
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  // The bound fits the whole output: one call finishes.
  int rc = deflate(&z, Z_FINISH);
  size_t size = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    return iso.raise_error("error", "gzip: zlib failed (" + std::to_string(rc) + ")");
  }
  return val(iso.heap().make_bytes(reinterpret_cast<const uint8_t*>(out.data()), size));
}

Value n_gunzip(Isolate& iso, Value* args, int n) {
  std::string_view in;
  Value raised;
  if (!input_of(iso, "gunzip", args[0], &in, &raised)) {
    return raised;
  }
  int64_t limit = kDefaultGunzipLimit;
  if (n > 1) {
    if (!args[1].is_int() || args[1].i < 0) {
      return iso.type_error("gunzip", "a byte count", args[1]);
    }
    limit = args[1].i;
  }
  z_stream z{};
  if (inflateInit2(&z, kGzipWindow) != Z_OK) {
    return iso.raise_error("error", "gunzip: zlib could not start");
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  const char* problem = nullptr;
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (static_cast<int64_t>(out.size()) > limit) {
      problem = "unpacks to more bytes than the limit";
      break;
    }
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) {
        break;
      }
      inflateReset(&z);  // the next member of a multi-member stream
    } else if (rc != Z_OK) {
      problem = rc == Z_BUF_ERROR ? "the gzip data is cut short" : "not gzip data";
      break;
    } else if (z.avail_in == 0 && z.avail_out != 0) {
      problem = "the gzip data is cut short";
      break;
    }
  }
  inflateEnd(&z);
  if (problem != nullptr) {
    return iso.raise_error("decode-error", std::string("gunzip: ") + problem);
  }
  return val(iso.heap().make_bytes(reinterpret_cast<const uint8_t*>(out.data()), out.size()));
}

}  // namespace

void register_compress_natives(Isolate& iso) {
  iso.define_native("gzip", n_gzip, 1, 2);
  iso.define_native("gunzip", n_gunzip, 1, 2);
}

}  // namespace valk::lisp
