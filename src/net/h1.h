// HTTP/1.1 on a connection (http_parser): keep-alive, pipelining (one
// request in flight, the rest wait unparsed), chunked bodies both ways,
// Expect: 100-continue, HEAD, Connection: close, and the switch to h2c.
#pragma once

#include <memory>

#include "net/conn.h"

namespace valk::net {

std::unique_ptr<Session> make_h1_session(Conn* conn);

}  // namespace valk::net
