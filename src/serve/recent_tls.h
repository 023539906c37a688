// The :tls map of the last request that came over TLS, handed to the next
// one whose connection has the same facts (version, cipher, ALPN, SNI,
// client certificate): usually every request of a connection and most
// connections. Maps are immutable, so sharing one is invisible to
// handlers; without it, each TLS request made a map and looked up four
// strings (~800 instructions, callgrind, h2 over TLS).
#pragma once

#include <string>
#include <vector>

#include "lisp/isolate.h"
#include "serve/worker.h"

namespace valk::serve {

class RecentTls {
 public:
  explicit RecentTls(lisp::Isolate& iso);
  ~RecentTls();
  RecentTls(const RecentTls&) = delete;
  RecentTls& operator=(const RecentTls&) = delete;

  // The map made for the same facts as `tls`, if it was the last one.
  bool find(const RequestTls& tls, lisp::Value* out) const;
  // Remembers `map` as the one for `tls`, in place of the last.
  void put(const RequestTls& tls, lisp::Value map);

 private:
  lisp::Isolate& iso_;
  std::string version_, cipher_, alpn_, sni_, subject_;
  bool resumed_ = false, present_ = false, verified_ = false;
  std::vector<std::string> chain_;
  std::vector<lisp::Value> map_;  // rooted: one map, or nil
};

}  // namespace valk::serve
