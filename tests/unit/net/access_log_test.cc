// The access log has a line for every request a handler got, answered or
// not: one whose client left before the answer began is logged 499, one
// the server cut before it began (the drain deadline) 444, one cut off
// mid-body with the status it was answered with.
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "h2_client.h"

namespace valk::test {
namespace {

// Never answers /never; starts /cut's answer and writes part of it.
Handler unfinished() {
  return [](Request& req, Responder res) {
    if (req.path() == "/cut") {
      res.start(200, {});
      res.write("partial");
    } else if (req.path() != "/never") {
      res.respond(200, {}, "ok");
    }
  };
}

struct LoggedServer {
  explicit LoggedServer(uint32_t drain_ms = ServerOptions{}.timeouts.drain)
      : log(testing::TempDir() + "/access_log_" + std::to_string(getpid())) {
    unlink(log.c_str());
    ServerOptions o = base_options();
    o.access_log = log;
    o.timeouts.drain = drain_ms;
    server.emplace(o, unfinished());
  }
  ~LoggedServer() { unlink(log.c_str()); }
  bool logged(const std::string& what) {
    return eventually([&] { return read_file(log).find(what) != std::string::npos; });
  }
  std::string log;
  std::optional<TestServer> server;
};

TEST(AccessLog, AnH2RequestResetBeforeItsAnswerIsLogged499) {
  LoggedServer s;
  H2Client c(s.server->port());
  int32_t never = c.submit("GET", "/never");
  int32_t cut = c.submit("GET", "/cut");
  ASSERT_TRUE(c.run_until([&] { return c.streams[cut].body == "partial"; }));
  c.reset(never);
  c.reset(cut);
  int32_t done = c.submit("GET", "/done");
  ASSERT_TRUE(c.run_until([&] { return c.streams[done].closed; }));
  EXPECT_TRUE(s.logged("\"GET /never HTTP/2.0\" 499 0")) << read_file(s.log);
  EXPECT_TRUE(s.logged("\"GET /cut HTTP/2.0\" 200 7")) << read_file(s.log);
  EXPECT_TRUE(s.logged("\"GET /done HTTP/2.0\" 200 2")) << read_file(s.log);
}

TEST(AccessLog, AnHttp11ClientThatLeavesIsLogged) {
  LoggedServer s;
  for (const char* path : {"/never", "/cut"}) {
    int fd = tcp_connect(s.server->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    if (std::string(path) == "/cut") {
      read_until(fd, [](const std::string& d) { return d.find("partial") != std::string::npos; });
    }
    // A reset: an HTTP/1.1 client's FIN alone is a half-close, after which
    // the rest of an answer begun is still sent.
    linger hard{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close(fd);
  }
  EXPECT_TRUE(s.logged("\"GET /never HTTP/1.1\" 499 0")) << read_file(s.log);
  EXPECT_TRUE(s.logged("\"GET /cut HTTP/1.1\" 200 ")) << read_file(s.log);
}

// The client did not leave: the server closed on it when the drain
// deadline passed, with /never unanswered and /cut's body unfinished.
TEST(AccessLog, RequestsCutByTheDrainDeadlineAreLogged444) {
  LoggedServer s(200);
  H2Client c(s.server->port());
  int32_t never = c.submit("GET", "/never");
  int32_t cut = c.submit("GET", "/cut");
  ASSERT_TRUE(c.run_until([&] { return c.streams[cut].body == "partial"; }));
  s.server->server().shutdown();
  ASSERT_TRUE(c.run_until([&] { return c.conn_closed; }));
  EXPECT_FALSE(c.streams[never].closed) << "cut, not answered or reset";
  EXPECT_TRUE(s.logged("\"GET /never HTTP/2.0\" 444 0")) << read_file(s.log);
  EXPECT_TRUE(s.logged("\"GET /cut HTTP/2.0\" 200 7")) << read_file(s.log);
}

}  // namespace
}  // namespace valk::test
