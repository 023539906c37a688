#include "serve/recent_tls.h"

#include <algorithm>

namespace valk::serve {

RecentTls::RecentTls(lisp::Isolate& iso) : iso_(iso), map_{lisp::Value::nil()} {
  iso_.push_roots(&map_);
}

RecentTls::~RecentTls() {
  iso_.pop_roots(&map_);
}

bool RecentTls::find(const RequestTls& t, lisp::Value* out) const {
  if (map_[0].is_nil() || t.version != version_ || t.cipher != cipher_ || t.alpn != alpn_ ||
      t.sni != sni_ || t.client_subject != subject_ || t.resumed != resumed_ ||
      t.client_cert_present != present_ || t.client_cert_verified != verified_ ||
      !std::equal(t.client_chain.begin(), t.client_chain.end(), chain_.begin(), chain_.end())) {
    return false;
  }
  *out = map_[0];
  return true;
}

void RecentTls::put(const RequestTls& t, lisp::Value map) {
  version_ = t.version;
  cipher_ = t.cipher;
  alpn_ = t.alpn;
  sni_ = t.sni;
  subject_ = t.client_subject;
  resumed_ = t.resumed;
  present_ = t.client_cert_present;
  verified_ = t.client_cert_verified;
  chain_.assign(t.client_chain.begin(), t.client_chain.end());
  map_[0] = map;
}

}  // namespace valk::serve
