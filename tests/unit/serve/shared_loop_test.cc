// valk serve's default layout, in process: a worker and a reactor share
// one thread and loop, and each connection's requests are run and
// answered before the next connection is read.
#include <gtest/gtest.h>

#include <string>

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
         (GET "/warm" (fn [req] (text "done")))
         (GET "/:name" (fn [req] (test/answered-before (:path req)) (text "done"))))
       {:threads 1})
)";

// Two requests on two connections, read in one loop turn (Burst): the
// first one's response is written before the handler of the second one
// runs.
TEST(SharedLoop, EachConnectionIsAnsweredBeforeTheNextIsRead) {
  Burst burst;
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
  ASSERT_TRUE(app.start(std::move(setup), &error)) << error;
  ASSERT_TRUE(app.shared_loops());
  Server server(app.server_options(),
                [&](Request& req, Responder res) { app.handle(req, std::move(res)); });
  ASSERT_TRUE(app.start_server(server, &error)) << error;
  burst.expect_answered_in_turn(burst.run(server.port(), "done"));
  server.shutdown();
  server.wait();
  app.stop();
}

}  // namespace
}  // namespace valk::test
