// The shared part of the HTTP fuzz targets (fuzz_h1, fuzz_h2): a real
// in-process server (one reactor, loopback) with short timeouts, so that it
// gives up on incomplete input quickly, and a client that sends each input
// over a fresh connection.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "valk/server.h"

namespace valk::fuzz {

inline valk::Server* start_server() {
  valk::ServerOptions o;
  o.reactors = 1;
  o.log_level = valk::LogLevel::kOff;
  o.limits.max_body_size = 1 << 16;
  o.timeouts.header_read = 50;
  o.timeouts.body_read = 50;
  o.timeouts.idle = 50;
  o.limits.body_window = 1 << 14;
  auto* s = new valk::Server(o, [](valk::Request& req, valk::Responder res) {
    auto n = std::make_shared<size_t>(0);
    // Paths under /paced read at a pace: each chunk is consumed only when
    // the next one comes (the last one never), exercising the flow-control
    // credit and what the session releases when the stream ends.
    bool paced = req.path().starts_with("/paced");
    auto held = std::make_shared<size_t>(0);
    req.read_body(
        [n, held, paced, res](std::string_view chunk, bool last) {
          *n += chunk.size();
          if (paced) {
            res.consume_body(*held);
            *held = chunk.size();
          }
          if (last) {
            res.respond(200, {{"x-len", std::to_string(*n)}}, "ok");
          }
        },
        paced ? valk::BodyFlow::kPaced : valk::BodyFlow::kAuto);
  });
  if (!s->start(nullptr)) {
    abort();
  }
  return s;
}

// Connects to the server, sends `prefix` then the fuzz input, half-closes
// and reads until the server closes (bounded).
inline int send_to_server(std::string_view prefix, const uint8_t* data, size_t size) {
  static valk::Server* server = start_server();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(server->port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Reset on close: thousands of runs a second would otherwise use up the
  // ephemeral ports in TIME_WAIT.
  linger lg{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  for (int tries = 0; connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0; ++tries) {
    if (tries == 100) {
      abort();  // the server stopped accepting: that is a finding
    }
    usleep(10000);
  }
  send(fd, prefix.data(), prefix.size(), MSG_NOSIGNAL);
  size_t off = 0;
  while (off < size) {
    ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
    if (n <= 0) {
      break;
    }
    off += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  // Drain until the server closes, or stays silent for 10 ms: a request
  // whose handler holds its body (/paced) keeps the connection open for as
  // long as the client waits, and leaving mid-response is a case too.
  // (200 ms there made such inputs, a large share of the HTTP/1.1 corpus,
  // run at 5 a second.)
  char buf[65536];
  for (int i = 0; i < 100; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0 || read(fd, buf, sizeof buf) <= 0) {
      break;
    }
  }
  close(fd);
  return 0;
}

}  // namespace valk::fuzz
