// valk serve's default layout, in process: a worker and a reactor share
// one thread and loop, and each connection's requests are run and
// answered before the next connection is read.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "../net/net_test_util.h"
#include "serve/app.h"
#include "serve_process.h"
#include "valk/valk.h"

namespace valk::test {
namespace {

const char* kOrderApp = R"(
(import "valk/web")
(serve (router
         (GET "/block" (fn [req] (test/hold) (text "done")))
         (GET "/:name" (fn [req] (text (str (test/earlier-answered (:name (:params req))) " done")))))
       {:threads 1})
)";

// Two requests on two connections, read in one loop turn (the loop is held
// while they are sent): the first one's response is written before the
// handler of the second one runs.
TEST(SharedLoop, EachConnectionIsAnsweredBeforeTheNextIsRead) {
  LoopGate gate;
  std::mutex mu;
  std::map<std::string, int> client_of;  // "a", "b" -> the client's socket
  std::vector<int> handled;
  serve::AppSetup setup;
  setup.app_file = write_app("order_app.lisp", kOrderApp);
  setup.flags.host = "127.0.0.1";
  setup.flags.port = 0;
  setup.flags.log_level = LogLevel::kOff;
  setup.define_natives = [&](Runtime& rt) {
    rt.define_function("test/hold", 0, 0, [&](Runtime& rt, std::span<const Value>) {
      gate.hold();
      return Result<Value>(rt.nil());
    });
    // Whether the response to each request handled before this one reaches
    // its client's socket while this handler holds the loop ("warm-up"
    // requests aside).
    rt.define_function("test/earlier-answered", 1, 1,
                       [&](Runtime& rt, std::span<const Value> args) -> Result<Value> {
                         std::lock_guard<std::mutex> lock(mu);
                         auto it = client_of.find(args[0].as_string().value_or(""));
                         if (it == client_of.end()) {
                           return rt.boolean(true);
                         }
                         bool answered = true;
                         for (int fd : handled) {
                           answered = answered && readable_within(fd, 500);
                         }
                         handled.push_back(it->second);
                         return rt.boolean(answered);
                       });
  };
  serve::App app;
  std::string error;
  ASSERT_TRUE(app.start(std::move(setup), &error)) << error;
  ASSERT_TRUE(app.shared_loops());
  Server server(app.server_options(),
                [&](Request& req, Responder res) { app.handle(req, std::move(res)); });
  ASSERT_TRUE(app.start_server(server, &error)) << error;

  auto done = [](const std::string& d) { return d.ends_with("done"); };
  int fds[3];
  for (int& fd : fds) {
    fd = tcp_connect(server.port());
    send_all(fd, "GET /warm HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(fd, done);
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    client_of = {{"a", fds[1]}, {"b", fds[2]}};
  }
  send_all(fds[0], "GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
  gate.wait_held();
  send_all(fds[1], "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  send_all(fds[2], "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  gate.release();
  std::string replies[3];
  for (int i = 0; i < 3; i++) {
    replies[i] = read_until(fds[i], done);
    close(fds[i]);
  }
  EXPECT_TRUE(replies[0].starts_with("HTTP/1.1 200")) << replies[0];
  for (int i = 1; i < 3; i++) {
    EXPECT_TRUE(replies[i].starts_with("HTTP/1.1 200")) << replies[i];
    EXPECT_TRUE(replies[i].ends_with("\r\n\r\ntrue done")) << replies[i];
  }
  server.shutdown();
  server.wait();
  app.stop();
}

}  // namespace
}  // namespace valk::test
