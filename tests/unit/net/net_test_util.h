// Helpers for the network tests: a server on 127.0.0.1 port 0, libcurl
// requests, raw sockets with bounded waits.
#pragma once

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "valk/server.h"

namespace valk::test {

inline std::string cert_path(const char* name) {
  return std::string(VALK_SOURCE_DIR) + "/certs/" + name;
}

inline ServerOptions base_options() {
  ServerOptions o;
  o.reactors = 2;
  o.log_level = LogLevel::kOff;
  return o;
}

inline ServerOptions tls_options() {
  ServerOptions o = base_options();
  o.certificates = {{cert_path("dev.crt"), cert_path("dev.key")},
                    {cert_path("other.crt"), cert_path("other.key")}};
  return o;
}

class TestServer {
 public:
  TestServer(ServerOptions o, Handler h) : server_(std::move(o), std::move(h)) {
    std::string err;
    started_ = server_.start(&err);
    EXPECT_TRUE(started_) << err;
  }
  ~TestServer() {
    if (started_) {
      server_.stop();
    }
  }
  uint16_t port() const { return server_.port(); }
  Server& server() { return server_; }
  std::string url(const std::string& path, bool tls = false) const {
    return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port()) + path;
  }

 private:
  Server server_;
  bool started_ = false;
};

// TCP_USER_TIMEOUT (ms) of the in-process server's end of the connection
// whose client end is `client_fd`; -1 if no such socket is found.
inline int server_user_timeout(int client_fd) {
  sockaddr_in mine{}, server{};
  socklen_t n = sizeof mine;
  getsockname(client_fd, reinterpret_cast<sockaddr*>(&mine), &n);
  n = sizeof server;
  getpeername(client_fd, reinterpret_cast<sockaddr*>(&server), &n);
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::stoi(e.path().filename().string());
    sockaddr_in local{}, peer{};
    socklen_t ln = sizeof local, pn = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ln) != 0 ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pn) != 0 ||
        local.sin_family != AF_INET || local.sin_port != server.sin_port ||
        peer.sin_port != mine.sin_port) {
      continue;
    }
    unsigned int v = 0;
    socklen_t vn = sizeof v;
    return getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, &vn) == 0 ? static_cast<int>(v) : -1;
  }
  return -1;
}

// A tunnel's body reader (read with BodyFlow::kPaced, after a 101): what
// comes goes back upper-cased, and "bye" ends the tunnel; when the client
// ends its side, `on_client_end` runs and the tunnel ends.
inline BodyReader upper_case_echo(Responder res, std::function<void()> on_client_end = {}) {
  return [res, on_client_end](std::string_view chunk, bool last) {
    if (last) {
      if (on_client_end) {
        on_client_end();
      }
      res.end();
      return;
    }
    std::string up(chunk);
    for (char& c : up) {
      c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    }
    res.write(up);
    res.consume_body(chunk.size());
    if (up.find("BYE") != std::string::npos) {
      res.end();
    }
  };
}

inline Handler hello_handler() {
  return [](Request& req, Responder res) {
    res.respond(200, {{"content-type", "text/plain"}}, "Hello, World!");
  };
}

struct CurlResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  long version = 0;  // CURL_HTTP_VERSION_*
  std::string body;
  std::string headers;
};

inline size_t curl_collect(char* p, size_t sz, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, sz * n);
  return sz * n;
}

// Configures TLS trust for the dev certificates and bounded timeouts.
inline void curl_defaults(CURL* c) {
  curl_easy_setopt(c, CURLOPT_CAINFO, cert_path("ca.crt").c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
}

inline CurlResult curl_do(const std::string& url, const std::function<void(CURL*)>& setup = {}) {
  CurlResult r;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_defaults(c);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, curl_collect);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  if (setup) {
    setup(c);
  }
  r.code = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &r.version);
  curl_easy_cleanup(c);
  return r;
}

// GET `url` over HTTP `version` (a CURL_HTTP_VERSION_*).
inline CurlResult curl_get(const std::string& url, long version) {
  return curl_do(url, [version](CURL* c) { curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version); });
}

// GET `url` with these request header lines ("Range: bytes=0-9"), its
// path sent as written (dot segments too).
inline CurlResult curl_get_with_headers(const std::string& url,
                                        const std::vector<std::string>& headers,
                                        long version = CURL_HTTP_VERSION_1_1) {
  curl_slist* h = nullptr;
  for (const std::string& x : headers) {
    h = curl_slist_append(h, x.c_str());
  }
  CurlResult r = curl_do(url, [&](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  });
  curl_slist_free_all(h);
  return r;
}

// The value of the response header `name` (lower case, as valk sends
// names), or "" if there is none.
inline std::string response_header(const CurlResult& r, const std::string& name) {
  size_t p = r.headers.find("\n" + name + ": ");
  if (p == std::string::npos) {
    return "";
  }
  size_t start = p + name.size() + 3;
  return r.headers.substr(start, r.headers.find("\r\n", start) - start);
}

// The whole content of the file at `path` ("" if it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Copies the development certificate NAME (certs/NAME.crt and .key) to
// TO.crt and TO.key, replacing them, and names the copies.
inline TlsCertificate copy_certificate(const std::string& name, const std::string& to) {
  for (const char* ext : {".crt", ".key"}) {
    std::filesystem::copy_file(cert_path((name + ext).c_str()), to + ext,
                               std::filesystem::copy_options::overwrite_existing);
  }
  return {to + ".crt", to + ".key"};
}

// ---- raw sockets ----

inline int tcp_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// A port that refuses connections for as long as this lives: bound, never
// listening, so no other test's server can take it meanwhile (as it could
// a free_port()).
class RefusedPort {
 public:
  RefusedPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~RefusedPort() { close(fd_); }
  RefusedPort(const RefusedPort&) = delete;
  RefusedPort& operator=(const RefusedPort&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_ = 0;
};

// A port nobody listens on now (bound to 0, then released), for a server
// that must be told its port in advance.
inline uint16_t free_port() {
  return RefusedPort().port();
}

inline bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads until `done(data)` holds, the peer closes, or `ms` pass. Returns
// what was read; *closed tells whether the peer closed.
inline std::string read_until(int fd, const std::function<bool(const std::string&)>& done,
                              int ms = 5000, bool* closed = nullptr) {
  std::string data;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  if (closed != nullptr) {
    *closed = false;
  }
  while (!done(data)) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) {
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) <= 0) {
      break;
    }
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);  // sockets and pipes
    if (n <= 0) {
      if (closed != nullptr) {
        *closed = true;
      }
      break;
    }
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

inline size_t count_of(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

// Polls `cond` until it holds or `ms` pass (for counters updated on
// another thread); never a fixed sleep.
inline bool eventually(const std::function<bool()>& cond, int ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) {
      return true;
    }
    std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return cond();
}

// Sends `request` on a connection with a tiny receive buffer and never
// reads the answer: the server must time the write out (write timeout)
// and close the connection on its own.
inline void expect_unread_answer_is_cut_off(TestServer& s, std::string_view request) {
  int fd = tcp_connect(s.port());
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  send_all(fd, request);
  EXPECT_TRUE(
      eventually([&] { return s.server().counters()[Counter::kTimeoutsWrite] == 1; }, 10000));
  EXPECT_TRUE(eventually([&] { return s.server().counters()[Counter::kConnectionsActive] == 0; }));
  close(fd);
}

// Deterministic body bytes: the value at offset i.
inline uint8_t byte_at(uint64_t i) {
  return static_cast<uint8_t>((i * 2654435761u) >> 13);
}

// A libcurl upload of `total` byte_at() bytes (CURLOPT_READFUNCTION gen_read,
// CURLOPT_READDATA a Gen).
struct Gen {
  uint64_t off = 0, total;
};

inline size_t gen_read(char* p, size_t sz, size_t n, void* ud) {
  auto* g = static_cast<Gen*>(ud);
  size_t k = static_cast<size_t>(std::min<uint64_t>(sz * n, g->total - g->off));
  for (size_t i = 0; i < k; ++i) {
    p[i] = static_cast<char>(byte_at(g->off + i));
  }
  g->off += k;
  return k;
}

// Sends a body of `total` bytes on a raw socket in two phases: for `ms`
// without blocking (to see how much a server that holds back takes), then
// the rest from a thread while the test reads the answer.
class RawUpload {
 public:
  RawUpload(int fd, size_t total) : fd_(fd), total_(total), block_(65536, 'u') {}
  ~RawUpload() { finish(); }

  // Returns the bytes sent so far.
  size_t send_for(int ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (sent_ < total_ && std::chrono::steady_clock::now() < until) {
      ssize_t n = ::send(fd_, block_.data(), std::min(block_.size(), total_ - sent_), MSG_DONTWAIT);
      if (n > 0) {
        sent_ += static_cast<size_t>(n);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    return sent_;
  }
  void send_rest_in_background() {
    rest_ = std::thread([this] {
      while (sent_ < total_) {
        ssize_t n = ::send(fd_, block_.data(), std::min(block_.size(), total_ - sent_), 0);
        if (n <= 0) {
          break;
        }
        sent_ += static_cast<size_t>(n);
      }
    });
  }
  void finish() {
    if (rest_.joinable()) {
      rest_.join();
    }
  }

 private:
  int fd_;
  size_t total_;
  std::string block_;
  size_t sent_ = 0;
  std::thread rest_;
};

}  // namespace valk::test
