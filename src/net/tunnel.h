// A connection after an HTTP/1.1 upgrade the handler accepted (101
// Switching Protocols, as a WebSocket handshake answers): raw bytes both
// ways. What the client sends is the request's body, paced like any
// BodyFlow::kPaced body; what the handler writes goes out as it is, with no
// framing. The handler's end() closes the connection once it is written;
// the client's EOF ends the body and leaves the handler to finish.
#pragma once

#include <memory>
#include <string_view>

#include "net/conn.h"

namespace valk::net {

// `stream` has had its 101 head sent and becomes the tunnel's; `input` is
// what the client sent after its request head, delivered as the body's
// first bytes.
std::unique_ptr<Session> make_tunnel_session(Conn* conn, Stream* stream, std::string_view input);

}  // namespace valk::net
