// valk::App: a host serves a Lisp app from its own Server, next to native
// handlers, and gives the app natives of its own.
#include "valk/app.h"

#include <gtest/gtest.h>

#include <atomic>

#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

const char* kApp = R"(
(import "valk/web")
(serve (router
         (GET "/hello" (fn [req] (text (str (host/greeting "lisp") " from worker"))))
         (GET "/later" (fn [req] (text (str "waited " (await (host/delay 30)))))))
       {:workers 2})
)";

// host/greeting (leaf) and host/delay (async: resolves after `ms` on the
// worker's loop, with ms).
void define_host_natives(Runtime& rt, std::atomic<int>* setups) {
  setups->fetch_add(1);
  rt.define_function("host/greeting", 1, 1,
                     [](Runtime& rt, std::span<const Value> args) -> Result<Value> {
                       return rt.string("hello " + args[0].as_string().value_or("?"));
                     });
  rt.define_async_function(
      "host/delay", 1, 1, [](Runtime& rt, std::span<const Value> args, Resolver resolver) {
        struct Pending {
          uv_timer_t timer;
          Resolver resolver;
          Value value;
        };
        auto* p = new Pending{{}, std::move(resolver), args[0]};
        uv_timer_init(rt.loop(), &p->timer);
        p->timer.data = p;
        uv_timer_start(
            &p->timer,
            [](uv_timer_t* t) {
              auto* p = static_cast<Pending*>(t->data);
              p->resolver.resolve(p->value);
              uv_close(reinterpret_cast<uv_handle_t*>(t),
                       [](uv_handle_t* h) { delete static_cast<Pending*>(h->data); });
            },
            static_cast<uint64_t>(args[0].as_int().value_or(0)), 0);
      });
}

TEST(App, AHostServesTheAppBesideNativeHandlersWithItsOwnNatives) {
  std::atomic<int> setups{0};
  AppOptions opts;
  opts.app_file = write_app("embedded_app.lisp", kApp);
  opts.define_natives = [&](Runtime& rt) { define_host_natives(rt, &setups); };
  std::string error;
  std::unique_ptr<App> app = App::load(opts, &error);
  ASSERT_NE(app, nullptr) << error;
  EXPECT_EQ(setups.load(), 2);  // the app's :workers

  ServerOptions so = app->server_options();
  so.listen = {ListenAddress{"127.0.0.1", 0}};
  so.log_level = LogLevel::kOff;
  TestServer server(so, [&](Request& req, Responder res) {
    if (req.path() == "/native") {
      res.respond(200, {}, "from C++");
    } else {
      app->handle(req, std::move(res));
    }
  });
  EXPECT_EQ(curl_do(server.url("/native")).body, "from C++");
  CurlResult hello = curl_do(server.url("/hello"), [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  });
  EXPECT_EQ(hello.status, 200);
  EXPECT_EQ(hello.body, "hello lisp from worker");
  EXPECT_EQ(curl_do(server.url("/later")).body, "waited 30");
  EXPECT_EQ(curl_do(server.url("/missing")).status, 404);
}

TEST(App, ABrokenAppIsReportedWithItsPosition) {
  AppOptions opts;
  opts.app_file = write_app("broken_app.lisp", "(serve (fn [req] (undefined-thing req)))\n");
  std::string error;
  EXPECT_EQ(App::load(opts, &error), nullptr);
  EXPECT_NE(error.find("broken_app.lisp:1:"), std::string::npos) << error;
  EXPECT_NE(error.find("undefined-thing"), std::string::npos) << error;
}

TEST(App, WorkersOptionWinsOverTheApp) {
  std::atomic<int> setups{0};
  AppOptions opts;
  opts.app_file = write_app("embedded_app.lisp", kApp);
  opts.workers = 1;
  opts.define_natives = [&](Runtime& rt) { define_host_natives(rt, &setups); };
  std::string error;
  ASSERT_NE(App::load(opts, &error), nullptr) << error;
  EXPECT_EQ(setups.load(), 1);
}

TEST(App, AHostReloadsTheAppAndItsNativesStay) {
  std::atomic<int> setups{0};
  AppOptions opts;
  opts.app_file = write_app("reloaded_app.lisp", kApp);
  opts.define_natives = [&](Runtime& rt) { define_host_natives(rt, &setups); };
  std::string error;
  std::unique_ptr<App> app = App::load(opts, &error);
  ASSERT_NE(app, nullptr) << error;
  ServerOptions so = app->server_options();
  so.listen = {ListenAddress{"127.0.0.1", 0}};
  so.log_level = LogLevel::kOff;
  TestServer server(so, [&](Request& req, Responder res) {
    if (req.path() == "/requests") {
      app->requests(std::move(res));
    } else {
      app->handle(req, std::move(res));
    }
  });
  EXPECT_EQ(curl_do(server.url("/hello")).body, "hello lisp from worker");
  EXPECT_EQ(app->generation(), 1u);
  CurlResult held = curl_do(server.url("/requests"));
  EXPECT_EQ(held.status, 200);
  EXPECT_EQ(held.body,
            "{\"workers\":[{\"worker\":0,\"generation\":1,\"requests\":0},"
            "{\"worker\":1,\"generation\":1,\"requests\":0}],\"requests\":[]}\n");

  write_app("reloaded_app.lisp", R"(
(serve (fn [req] (str (host/greeting "again") " " (:path req))) {:workers 2})
)");
  ASSERT_TRUE(app->reload(&error)) << error;
  EXPECT_EQ(app->generation(), 2u);
  for (int i = 0; i < 4; i++) {  // both workers
    EXPECT_EQ(curl_do(server.url("/x")).body, "hello again /x");
  }
  // The natives were defined once per worker, before the first load.
  EXPECT_EQ(setups.load(), 2);

  write_app("reloaded_app.lisp", "(serve (fn [req] (host/missing req)))\n");
  EXPECT_FALSE(app->reload(&error));
  EXPECT_NE(error.find("reloaded_app.lisp:1:18: unable to resolve symbol: host/missing"),
            std::string::npos)
      << error;
  EXPECT_EQ(app->generation(), 2u);
  EXPECT_EQ(curl_do(server.url("/y")).body, "hello again /y");
}

}  // namespace
}  // namespace valk::test
