// http/request with :as :upgrade: a 101 gives the connection to the
// request, read with read-chunk and written with http/write, against
// libvalk's server, whose handlers here accept the upgrade (src/net/tunnel.cc).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "../net/net_test_util.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"

namespace valk::test {
namespace {

using lisp::EvalResult;
using lisp::Isolate;

// Paths the test server answers:
//   /echo   101, then "greeting" at once; what comes is sent back upper-cased,
//           and "BYE" ends the tunnel from the server's side
//   /quiet  as /echo, without the greeting
//   /sink   101, then reads nothing: the client's writes back up
//   /plain  200 "plain", no upgrade
// ended_ counts the tunnels whose client closed its side.
class HttpUpgradeTest : public ::testing::Test {
 protected:
  HttpUpgradeTest()
      : server_(base_options(), [this](Request& req, Responder res) { handle(req, res); }) {}

  void handle(Request& req, Responder res) {
    std::string path(req.path());
    if (path == "/plain" || !req.upgrade_offered()) {
      res.respond(200, {}, "plain");
      return;
    }
    upgrade_header_ = std::string(req.header("upgrade"));
    res.start(101, {{"upgrade", "echo"}});
    if (path == "/sink") {
      req.read_body([this](std::string_view chunk, bool) { sunk_ += chunk.size(); },
                    BodyFlow::kPaced);
      return;
    }
    if (path != "/quiet") {
      res.write("greeting");
    }
    req.read_body(upper_case_echo(res, [this] { ended_++; }), BodyFlow::kPaced);
  }

  // What `src` evaluates to, printed, with {url} the server's base URL; or
  // "ERROR " and the error's report.
  std::string run(std::string src) {
    for (size_t at = src.find("{url}"); at != std::string::npos; at = src.find("{url}", at)) {
      src.replace(at, 5, server_.url(""));
    }
    EvalResult r = iso_.eval_string(src, "test.lisp");
    if (!r.ok) {
      return "ERROR " + iso_.describe(r.value);
    }
    return lisp::print_str(r.value, true);
  }

  void SetUp() override {
    // Reads from `r` until `n` bytes came (or the end), as text.
    run("(defn read-n [r n] (loop [acc \"\"] (if (>= (count acc) n) acc"
        "  (if-let [c (read-chunk r)] (recur (str acc (bytes->string c))) acc))))"
        "(defn open [path] (await (http/request {:url (str \"{url}\" path) :as :upgrade"
        "                                         :headers {\"upgrade\" \"echo\"}})))");
  }

  TestServer server_;
  Isolate iso_;
  std::atomic<int> ended_{0};
  std::atomic<uint64_t> sunk_{0};
  std::string upgrade_header_;
};

TEST_F(HttpUpgradeTest, A101GivesTheConnectionBothWays) {
  EXPECT_EQ(run("(def r (open \"/echo\")) [(:status r) (get-in r [:headers \"upgrade\"])]"),
            "[101 \"echo\"]");
  EXPECT_EQ(upgrade_header_, "echo");
  // What the server wrote right behind its head comes first.
  EXPECT_EQ(run("(read-n r 8)"), "\"greeting\"");
  EXPECT_EQ(run("(http/write r \"abc\") (read-n r 3)"), "\"ABC\"");
  EXPECT_EQ(run("(http/write r (string->bytes \"def\")) (read-n r 3)"), "\"DEF\"");
  // The server ends its side: the rest, then the end.
  EXPECT_EQ(run("(http/write r \"bye\") [(read-n r 3) (read-chunk r)]"), "[\"BYE\" nil]");
  EXPECT_EQ(run("(try (http/write r \"more\") (catch e (:kind (error-data e))))"), ":closed");
}

TEST_F(HttpUpgradeTest, CloseEndsTheTunnelAtTheServerToo) {
  EXPECT_EQ(run("(def r (open \"/echo\")) (read-n r 8)"), "\"greeting\"");
  EXPECT_EQ(run("(http/close r) (try (http/write r \"x\") (catch e (:kind (error-data e))))"),
            ":closed");
  EXPECT_TRUE(eventually([&] {
    run("(await (sleep 10))");
    return ended_.load() == 1;
  }));
}

TEST_F(HttpUpgradeTest, AWriterWaitsForAServerThatDoesNotRead) {
  // 64 KiB writes from a fiber of its own, counted, while the server
  // reads none of them.
  run("(def r (open \"/sink\")) (def written (atom 0))"
      "(def writer (spawn (fn [] (let [chunk (apply str (repeat 65536 \"w\"))]"
      "  (loop [] (http/write r chunk) (swap! written + 65536) (recur))))))"
      "(await (sleep 500))");
  // The kernel's buffers and the server's window, not the 64 MiB it would
  // write in that time.
  EXPECT_LT(std::stoull(run("@written")), uint64_t{32} << 20);
  EXPECT_LE(sunk_.load(), uint64_t{4} << 20);
  // Closing wakes the waiting writer with an error.
  EXPECT_EQ(run("(http/close r) (try (await writer) (catch e (:kind (error-data e))))"), ":closed");
}

TEST_F(HttpUpgradeTest, TheReadTimeoutBoundsEachWaitOfTheTunnel) {
  // /echo says nothing after its greeting.
  EXPECT_EQ(run("(def r (await (http/request {:url \"{url}/echo\" :as :upgrade :read-timeout-ms 100"
                "                               :headers {\"upgrade\" \"echo\"}})))"
                "(read-n r 8)"),
            "\"greeting\"");
  EXPECT_EQ(run("(try (read-chunk r) (catch e (:kind (error-data e))))"), ":timeout");
  EXPECT_TRUE(eventually([&] {
    run("(await (sleep 10))");
    return ended_.load() == 1;  // and the tunnel is over at the server too
  }));
}

TEST_F(HttpUpgradeTest, ReadBodyOfATunnelKeepsToMaxBody) {
  // read-body waits for the end; the 6 bytes the echo sends back are more
  // than it may gather.
  EXPECT_EQ(run("(def r (await (http/request {:url \"{url}/quiet\" :as :upgrade :max-body 4"
                "                               :headers {\"upgrade\" \"echo\"}})))"
                "(def whole (spawn (fn [] (read-body r)))) (await (sleep 20))"
                "(http/write r \"abcdef\")"
                "(try (await whole) (catch e (:kind (error-data e))))"),
            ":too-large");
}

TEST_F(HttpUpgradeTest, AnAnswerOtherThan101IsAStreamedResponse) {
  EXPECT_EQ(run("(def r (open \"/plain\")) [(:status r) (read-body r)]"), "[200 \"plain\"]");
  EXPECT_NE(run("(http/write r \"x\")").find("whose status is 101"), std::string::npos);
}

}  // namespace
}  // namespace valk::test
