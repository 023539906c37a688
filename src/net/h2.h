// HTTP/2 on a connection (nghttp2): server session, streams, flow control,
// trailers, resets and the flood mitigations.
#pragma once

#include <memory>
#include <string_view>

#include "net/conn.h"

namespace valk::net {

std::unique_ptr<Session> make_h2_session(Conn* conn);
// After an HTTP/1.1 `Upgrade: h2c`: `settings` is the decoded HTTP2-Settings
// payload, and `stream` (its head complete, body ended) becomes stream 1.
// Returns nullptr if the settings are invalid.
std::unique_ptr<Session> make_h2_upgraded(Conn* conn, std::string_view settings, Stream* stream);

}  // namespace valk::net
