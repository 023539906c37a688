// valk serve's default layout, in process: a worker and a reactor share
// one thread and loop. Each HTTP/2 connection's requests are run and
// answered before the next connection is read; the HTTP/1.1 connections
// read in one loop turn are answered together at its end.
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "../net/burst.h"
#include "serve/app.h"
#include "serve_process.h"
#include "valk/valk.h"

namespace valk::test {
namespace {

const char* kOrderApp = R"(
(import "valk/web")
(serve (router
         (GET "/block" (fn [req] (test/hold) (text "done")))
         (GET "/warm" (fn [req] (text "done")))
         (GET "/:name" (fn [req] (test/answered-before (:path req)) (text "done"))))
       {:threads 1})
)";

// Two requests on two connections, read in one loop turn (Burst), run by
// the app's handlers in process.
std::array<std::string, 3> run_burst(Burst& burst) {
  serve::AppSetup setup;
  setup.app_file = write_app("order_app.lisp", kOrderApp);
  setup.flags.host = "127.0.0.1";
  setup.flags.port = 0;
  setup.flags.log_level = LogLevel::kOff;
  setup.define_natives = [&](Runtime& rt) {
    rt.define_function("test/hold", 0, 0, [&](Runtime& rt, std::span<const Value>) {
      burst.gate().hold();
      return Result<Value>(rt.nil());
    });
    rt.define_function("test/answered-before", 1, 1,
                       [&](Runtime& rt, std::span<const Value> args) -> Result<Value> {
                         burst.answered_before(args[0].as_string().value_or(""));
                         return rt.nil();
                       });
  };
  serve::App app;
  std::string error;
  std::array<std::string, 3> replies;
  if (!app.start(std::move(setup), &error)) {
    ADD_FAILURE() << error;
    return replies;
  }
  EXPECT_TRUE(app.shared_loops());
  Server server(app.server_options(),
                [&](Request& req, Responder res) { app.handle(req, std::move(res)); });
  if (app.start_server(server, &error)) {
    replies = burst.run(server.port(), "done");
    server.shutdown();
    server.wait();
  } else {
    ADD_FAILURE() << error;
  }
  app.stop();
  return replies;
}

// On HTTP/2 the first one's response is written before the handler of the
// second one runs.
TEST(SharedLoop, EachHttp2ConnectionIsAnsweredBeforeTheNextIsRead) {
  Burst burst(Protocol::kHttp2);
  burst.check(run_burst(burst));
}

// On HTTP/1.1 both handlers run before either response is written.
TEST(SharedLoop, Http11ConnectionsReadInOneTurnAreAnsweredTogether) {
  Burst burst(Protocol::kHttp11, Burst::Answers::kTogether);
  burst.check(run_burst(burst));
}

}  // namespace
}  // namespace valk::test
