// SIGHUP (and, with --watch, a change to one of its files) loads the app's
// code again in a running `valk serve`: requests handed over afterwards run
// the new code, those in flight finish on the code they started with,
// defonce keeps its values, and an app that fails to load changes nothing.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

// version: the string the app answers with; extra: forms put before the
// (serve ...) call; opts: serve's options.
std::string app_text(const std::string& version, const std::string& extra = "",
                     const std::string& opts = "{:port 0}") {
  return R"((import "valk/web")
(defonce hits (atom 0))
(defonce holding (atom 0))
(def version ")" +
         version + R"(")
(defn answer [] (str version " " (swap! hits inc)))
)" + extra +
         R"(
(def app
  (router
    (GET "/" (fn [req] (text (answer))))
    (GET "/holding" (fn [req] (text (str @holding))))
    (GET "/hold" (fn [req]
                   (swap! holding inc)
                   (await (sleep 1500))
                   (text (answer))))
    (GET "/sleep" (fn [req] (await (sleep 500)) (text "slept")))
    (GET "/pile" (fn [req] (text (str (count (vec (range 500000)))))))))
(serve app )" +
         opts + ")\n";
}

// Sends SIGHUP and waits for the summary line; returns the output since.
std::string hang_up(ValkProcess& p) {
  size_t from = p.output().size();
  size_t before = count_of(p.output(), "valk: SIGHUP: log files");
  kill(p.pid(), SIGHUP);
  p.read_until([&] { return count_of(p.output(), "valk: SIGHUP: log files") > before; }, 20000);
  return p.output().substr(from);
}

std::string get(ValkProcess& p, const std::string& path, long version = CURL_HTTP_VERSION_1_1) {
  CurlResult r = curl_get(p.url(path), version);
  EXPECT_EQ(r.status, 200) << path << " " << p.output();
  return r.body;
}

TEST(ServeCodeReload, NewRequestsRunTheNewCodeAndThoseInFlightFinishOnTheOld) {
  std::string app = write_app("code_reload.lisp", app_text("one"));
  ServeProcess s({"--threads", "1", "--metrics", "0", app});
  ASSERT_NE(s.port(), 0) << s.output();
  EXPECT_EQ(get(s, "/"), "one 1");
  std::string held;
  std::thread holder([&] { held = get(s, "/hold", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE); });
  ASSERT_TRUE(eventually([&] { return get(s, "/holding") == "1"; })) << s.output();

  std::ofstream(app) << app_text("two");
  std::string report = hang_up(s);
  EXPECT_NE(report.find("certificates reloaded, app reloaded (generation 2)"), std::string::npos)
      << report;
  // defonce kept the count across the reload.
  EXPECT_EQ(get(s, "/"), "two 2");
  EXPECT_EQ(get(s, "/", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE), "two 3");
  holder.join();
  // The held request's handler called `answer` of the code it started on.
  EXPECT_EQ(held, "one 4");
  CurlResult m = curl_get("http://127.0.0.1:" + std::to_string(s.metrics_port()) + "/metrics",
                          CURL_HTTP_VERSION_1_1);
  EXPECT_NE(m.body.find("\nvalk_app_generation 2\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("\nvalk_app_reloads_total{result=\"loaded\"} 1\n"), std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("\nvalk_app_reloads_total{result=\"failed\"} 0\n"), std::string::npos)
      << m.body;
  EXPECT_EQ(s.signal_and_wait(SIGTERM), 0);
}

TEST(ServeCodeReload, AnAppThatFailsToLoadChangesNothing) {
  std::string app = write_app("code_reload_broken.lisp", app_text("one"));
  ServeProcess s({"--threads", "2", "--metrics", "0", app});
  ASSERT_NE(s.port(), 0) << s.output();
  struct Case {
    std::string text, error;
  };
  const Case cases[] = {
      // A reader error, at its place.
      {app_text("two") + "(def broken (\n", "code_reload_broken.lisp:18:13: unterminated list"},
      // A name no form defines.
      {app_text("two", "(defn f [] (undefined-thing 1))"),
       "code_reload_broken.lisp:6:12: unable to resolve symbol: undefined-thing"},
      // An error raised by the top level.
      {app_text("two", "(error \"no config\")"), "no config"},
      // No (serve ...) call.
      {"(def version \"two\")\n", "the app never called (serve handler {...})"},
      // serve called twice.
      {app_text("two", "(serve (fn [r] \"x\"))"), "serve: called twice"},
  };
  for (const Case& c : cases) {
    std::ofstream(app) << c.text;
    std::string report = hang_up(s);
    EXPECT_NE(report.find("the app did not load, it runs as before: "), std::string::npos)
        << report;
    EXPECT_NE(report.find(c.error), std::string::npos) << report;
    EXPECT_NE(report.find("certificates reloaded, app not reloaded\n"), std::string::npos)
        << report;
    for (int i = 0; i < 4; i++) {
      EXPECT_EQ(get(s, "/").substr(0, 4), "one ") << c.error;
    }
  }
  // A good version then loads, in every worker, as generation 2.
  std::ofstream(app) << app_text("two");
  EXPECT_NE(hang_up(s).find("app reloaded (generation 2)"), std::string::npos) << s.output();
  CurlResult m = curl_get("http://127.0.0.1:" + std::to_string(s.metrics_port()) + "/metrics",
                          CURL_HTTP_VERSION_1_1);
  EXPECT_NE(m.body.find("\nvalk_app_reloads_total{result=\"failed\"} 5\n"), std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("\nvalk_app_generation 2\n"), std::string::npos) << m.body;
  for (int i = 0; i < 8; i++) {
    EXPECT_EQ(get(s, "/").substr(0, 4), "two ");
  }
  EXPECT_EQ(s.signal_and_wait(SIGTERM), 0);
}

TEST(ServeCodeReload, WorkerThreadsApartFromReactorsLoadTheNewCodeToo) {
  std::string app = write_app("code_reload_workers.lisp", app_text("one"));
  ServeProcess s({"--workers", "3", "--reactors", "1", app});
  ASSERT_NE(s.port(), 0) << s.output();
  for (int i = 0; i < 6; i++) {
    EXPECT_EQ(get(s, "/").substr(0, 4), "one ");
  }
  std::ofstream(app) << app_text("two");
  EXPECT_NE(hang_up(s).find("app reloaded (generation 2)"), std::string::npos) << s.output();
  // Round robin over the three workers: each answers with the new code.
  for (int i = 0; i < 6; i++) {
    EXPECT_EQ(get(s, "/").substr(0, 4), "two ");
  }
  std::ofstream(app) << app_text("three");
  EXPECT_NE(hang_up(s).find("app reloaded (generation 3)"), std::string::npos) << s.output();
  for (int i = 0; i < 6; i++) {
    EXPECT_EQ(get(s, "/").substr(0, 6), "three ");
  }
  EXPECT_EQ(s.signal_and_wait(SIGTERM), 0);
}

TEST(ServeCodeReload, ALoadPastTheDeadlineIsStoppedAndChangesNothing) {
  std::string app =
      write_app("code_reload_deadline.lisp", app_text("one", "", "{:port 0 :deadline-ms 300}"));
  ServeProcess s({"--threads", "1", app});
  ASSERT_NE(s.port(), 0) << s.output();
  std::ofstream(app) << app_text("two", "(await (sleep 60000))", "{:port 0 :deadline-ms 300}");
  std::string report = hang_up(s);
  EXPECT_NE(report.find("ran past the deadline (300 ms)"), std::string::npos) << report;
  EXPECT_NE(report.find("app not reloaded"), std::string::npos) << report;
  EXPECT_EQ(get(s, "/"), "one 1");
  // The next reload runs: the stopped one is over.
  std::ofstream(app) << app_text("two", "", "{:port 0 :deadline-ms 300}");
  EXPECT_NE(hang_up(s).find("app reloaded (generation 2)"), std::string::npos) << s.output();
  EXPECT_EQ(get(s, "/"), "two 2");
  EXPECT_EQ(s.signal_and_wait(SIGTERM), 0);
}

TEST(ServeCodeReload, TheNewDeadlineAndBudgetsApplyAndOtherSettingsWaitForARestart) {
  std::string app = write_app("code_reload_settings.lisp", app_text("one"));
  ServeProcess s({"--threads", "1", app});
  ASSERT_NE(s.port(), 0) << s.output();
  EXPECT_EQ(get(s, "/sleep"), "slept");
  EXPECT_EQ(get(s, "/pile"), "500000");
  std::ofstream(app) << app_text(
      "two", "", "{:port 0 :deadline-ms 200 :allocation-budget 10000000 :queue-size 64}");
  std::string report = hang_up(s);
  EXPECT_NE(report.find("app reloaded (generation 2)"), std::string::npos) << report;
  // In the error log, which its own thread writes.
  const std::string warning =
      "[worker 0] reload: the app's (serve ...) settings changed; all but :deadline-ms, "
      ":instruction-budget and :allocation-budget take effect on a restart";
  s.read_until([&] { return s.output().find(warning) != std::string::npos; }, 5000);
  EXPECT_NE(s.output().find(warning), std::string::npos) << s.output();
  EXPECT_EQ(curl_get(s.url("/sleep"), CURL_HTTP_VERSION_1_1).status, 503);
  CurlResult pile = curl_get(s.url("/pile"), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(pile.status, 503);
  EXPECT_NE(pile.body.find("needed too much memory"), std::string::npos) << pile.body;
  EXPECT_EQ(get(s, "/"), "two 1");
  EXPECT_EQ(s.signal_and_wait(SIGTERM), 0);
}

TEST(ServeCodeReload, WatchReloadsWhenAFileOfTheAppChanges) {
  std::string dir =
      (std::filesystem::path(testing::TempDir()) / "code_reload_watch").lexically_normal().string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/lib");
  auto write = [&](const std::string& name, const std::string& text) {
    // As editors save: a new file renamed over the old one.
    std::ofstream(dir + "/" + name + ".tmp") << text;
    std::filesystem::rename(dir + "/" + name + ".tmp", dir + "/" + name);
  };
  write("lib/helper.lisp", "(defn helper [] \"v1\")\n");
  write("app.lisp", R"((import "valk/web")
(import "./lib/helper")
(serve (router (GET "/" (fn [req] (text (helper))))) {:port 0})
)");
  ServeProcess s({"--watch", "--threads", "2", dir + "/app.lisp"});
  ASSERT_NE(s.port(), 0) << s.output();
  EXPECT_EQ(get(s, "/"), "v1");
  auto changes = [&] { return count_of(s.output(), "valk: --watch: files changed, "); };
  auto wait_changes = [&](size_t n) {
    s.read_until([&] { return changes() >= n; }, 10000);
    EXPECT_EQ(changes(), n) << s.output();
  };
  // A module the app imports, written in place.
  std::ofstream(dir + "/lib/helper.lisp") << "(defn helper [] \"v2\")\n";
  wait_changes(1);
  EXPECT_NE(s.output().find("files changed, app reloaded (generation 2)"), std::string::npos);
  for (int i = 0; i < 4; i++) {
    EXPECT_EQ(get(s, "/"), "v2");
  }
  // Saved by rename; then a broken version, which changes nothing.
  write("lib/helper.lisp", "(defn helper [] \"v3\")\n");
  wait_changes(2);
  EXPECT_EQ(get(s, "/"), "v3");
  write("lib/helper.lisp", "(defn helper [] (oops))\n");
  wait_changes(3);
  EXPECT_NE(s.output().find("valk: --watch: the app did not load, it runs as before: " + dir +
                            "/lib/helper.lisp:1:17: unable to resolve symbol: oops"),
            std::string::npos)
      << s.output();
  EXPECT_NE(s.output().find("files changed, app not reloaded"), std::string::npos);
  EXPECT_EQ(get(s, "/"), "v3");
  // Files that are not Lisp, or are an editor's, are no change.
  std::ofstream(dir + "/notes.txt") << "x";
  std::ofstream(dir + "/.#app.lisp") << "x";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(changes(), 3u) << s.output();
  write("lib/helper.lisp", "(defn helper [] \"v4\")\n");
  wait_changes(4);
  EXPECT_EQ(get(s, "/"), "v4");
  EXPECT_EQ(s.signal_and_wait(SIGTERM), 0);
}

}  // namespace
}  // namespace valk::test
