// http/request with :body as a function: the body written as the request
// goes, through the own client (chunked, or with the content-length the
// headers give) and through libcurl (HTTP/1.1 and h2c), against libvalk's
// server.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>

#include "../net/net_test_util.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"

namespace valk::test {
namespace {

using lisp::EvalResult;
using lisp::Isolate;

// Paths the test server answers:
//   /count  reads the whole body, then answers "<bytes> <sum> <framing>",
//           the sum being of the bytes' values and the framing "chunked",
//           "length <n>" or "none" (h2 without a content-length)
//   /early  413 at once, reading nothing
//   /silent reads the body and does not answer
//   /held   reads at the client's pace (BodyFlow::kPaced) and uses nothing
//           until release(); then answers as /count
class HttpUploadTest : public ::testing::Test {
 protected:
  HttpUploadTest()
      : server_(base_options(), [this](Request& req, Responder res) { handle(req, res); }) {}

  struct Tally {
    uint64_t bytes = 0;
    uint64_t sum = 0;
    std::string framing;
  };

  void handle(Request& req, Responder res) {
    std::string path(req.path());
    if (path == "/early") {
      res.respond(413, {}, "too large");
      return;
    }
    if (path == "/silent") {
      req.read_body([](std::string_view, bool) {});
      return;
    }
    auto tally = std::make_shared<Tally>();
    tally->framing = req.header("transfer-encoding") == "chunked" ? "chunked"
                     : req.content_length() >= 0 ? "length " + std::to_string(req.content_length())
                                                 : "none";
    bool held = path == "/held";
    if (held) {
      std::lock_guard lock(held_mutex_);
      held_ = res;
    }
    req.read_body(
        [this, res, tally, held](std::string_view chunk, bool last) {
          tally->bytes += chunk.size();
          for (unsigned char c : chunk) {
            tally->sum += c;
          }
          if (held) {
            delivered_ += chunk.size();
            if (released_) {
              res.consume_body(chunk.size());
            }
          }
          if (last) {
            res.respond(200, {},
                        std::to_string(tally->bytes) + " " + std::to_string(tally->sum) + " " +
                            tally->framing);
          }
        },
        held ? BodyFlow::kPaced : BodyFlow::kAuto);
  }

  // Lets /held's reader go on, using what came so far.
  void release() {
    released_ = true;
    std::lock_guard lock(held_mutex_);
    held_.consume_body(delivered_.load());
  }

  // What `src` evaluates to, printed, with {url} the server's base URL; or
  // "ERROR " and the error's report.
  std::string run(std::string src) {
    for (size_t at = src.find("{url}"); at != std::string::npos; at = src.find("{url}", at)) {
      src.replace(at, 5, server_.url(""));
    }
    // A URL with a user in it goes through libcurl.
    for (size_t at = src.find("{curl}"); at != std::string::npos; at = src.find("{curl}", at)) {
      src.replace(at, 6, "http://u:p@127.0.0.1:" + std::to_string(server_.port()));
    }
    EvalResult r = iso_.eval_string(src, "test.lisp");
    if (!r.ok) {
      return "ERROR " + iso_.describe(r.value);
    }
    return lisp::print_str(r.value, true);
  }

  void SetUp() override {
    // A body of `n` parts of `size` bytes ("a", "b", ... in turn) written
    // by the function, and what /count answers for it.
    run("(def letters \"abcdefghijklmnopqrstuvwxyz\")"
        "(defn parts [n size] (fn [w] (dotimes [i n]"
        "  (http/write w (apply str (repeat size (subs letters (mod i 26) (inc (mod i 26)))))))))"
        "(defn expected [n size framing]"
        "  (str (* n size) \" \" (reduce + (map (fn [i] (* size (+ 97 (mod i 26)))) (range n)))"
        "       \" \" framing))"
        "(defn post [url body & [opts]]"
        "  (:body (await (http/request (merge {:url url :method :post :body body} opts)))))");
  }

  TestServer server_;
  Isolate iso_;
  std::mutex held_mutex_;
  Responder held_;
  std::atomic<uint64_t> delivered_{0};
  std::atomic<bool> released_{false};
};

TEST_F(HttpUploadTest, TheOwnClientSendsTheBodyChunked) {
  EXPECT_EQ(run("(= (post \"{url}/count\" (parts 5 1000)) (expected 5 1000 \"chunked\"))"), "true");
  // Bytes, and a body of none at all.
  EXPECT_EQ(run("(post \"{url}/count\" (fn [w] (http/write w (string->bytes \"xyz\"))))"),
            "\"3 363 chunked\"");
  EXPECT_EQ(run("(post \"{url}/count\" (fn [w] nil))"), "\"0 0 chunked\"");
  // The connection is kept for the next request.
  EXPECT_EQ(run("(post \"{url}/count\" (parts 2 10))"), run("(expected 2 10 \"chunked\")"));
}

TEST_F(HttpUploadTest, AContentLengthGivenFramesTheBody) {
  EXPECT_EQ(run("(post \"{url}/count\" (parts 4 250) {:headers {\"content-length\" \"1000\"}})"),
            run("(expected 4 250 \"length 1000\")"));
  // Writing more than it gives is an error at the write; less fails the
  // request.
  EXPECT_EQ(
      run("(try (post \"{url}/count\" (parts 4 250) {:headers {\"content-length\" \"999\"}})"
          "  (catch e (error-message e)))"),
      "\"http/write " + server_.url("/count") + ": more than the content-length (999 bytes)\"");
  EXPECT_EQ(run("(try (post \"{url}/count\" (parts 4 250) {:headers {\"content-length\" \"1001\"}})"
                "  (catch e [(:kind (error-data e)) (error-message e)]))"),
            "[:failed \"http/request " + server_.url("/count") +
                ": the :body function wrote 1000 of the 1001 bytes its content-length gives\"]");
  EXPECT_NE(run("(post \"{url}/count\" (parts 1 1) {:headers {\"content-length\" \"x\"}})")
                .find("not a content-length: x"),
            std::string::npos);
}

TEST_F(HttpUploadTest, CurlSendsTheBodyOverHttp1AndH2c) {
  EXPECT_EQ(run("(= (post \"{curl}/count\" (parts 5 1000)) (expected 5 1000 \"chunked\"))"),
            "true");
  EXPECT_EQ(run("(= (post \"{url}/count\" (parts 5 1000) {:version :http2})"
                "   (expected 5 1000 \"none\"))"),
            "true");
  EXPECT_EQ(run("(= (post \"{url}/count\" (parts 3 100) {:version :http2"
                "                                         :headers {\"content-length\" \"300\"}})"
                "   (expected 3 100 \"length 300\"))"),
            "true");
  EXPECT_EQ(run("(post \"{curl}/count\" (fn [w] nil))"), "\"0 0 chunked\"");
}

// The function's writes wait for a server that reads nothing: what the
// kernel's buffers and the server's window hold is written, not the body.
TEST_F(HttpUploadTest, WritesWaitForAServerThatDoesNotReadOwnClient) {
  run("(def written (atom 0)) (def chunk (apply str (repeat 65536 \"w\")))"
      "(def p (http/request {:url \"{url}/held\" :method :post"
      "  :body (fn [w] (dotimes [i 768] (http/write w chunk) (swap! written + 65536)))}))"
      "(await (sleep 500))");
  EXPECT_LT(std::stoull(run("@written")), uint64_t{24} << 20);  // of 48 MiB
  release();
  EXPECT_EQ(run("(:body (await p))"), "\"50331648 5989466112 chunked\"");
}

TEST_F(HttpUploadTest, WritesWaitForAServerThatDoesNotReadH2c) {
  run("(def written (atom 0)) (def chunk (apply str (repeat 65536 \"w\")))"
      "(def p (http/request {:url \"{url}/held\" :method :post :version :http2"
      "  :body (fn [w] (dotimes [i 768] (http/write w chunk) (swap! written + 65536)))}))"
      "(await (sleep 500))");
  EXPECT_LT(std::stoull(run("@written")), uint64_t{24} << 20);
  release();
  EXPECT_EQ(run("(:body (await p))"), "\"50331648 5989466112 none\"");
}

TEST_F(HttpUploadTest, TheFunctionFailingFailsTheRequest) {
  for (const char* url : {"{url}", "{curl}"}) {
    EXPECT_EQ(
        run(std::string("(try (post \"") + url +
            "/count\" (fn [w] (http/write w \"part\") (throw (ex-info \"no more\" {:why 1}))))"
            "  (catch e [(error-message e) (:why (error-data e))]))"),
        "[\"no more\" 1]");
  }
}

TEST_F(HttpUploadTest, AnEarlyAnswerEndsTheFunction) {
  // /early answers before it reads; the function, still at work, is
  // cancelled (its finally runs), and its writer writes to nothing.
  for (auto [url, opts] : {std::pair{"{url}", "{}"}, std::pair{"{curl}", "{}"},
                           std::pair{"{url}", "{:version :http2}"}}) {
    EXPECT_EQ(run(std::string("(def done (atom nil)) (def kept (atom nil))"
                              "(def r (await (timeout 5000 (http/request (merge {:url \"") +
                  url + "/early\" :method :post" +
                  " :body (fn [w] (reset! kept w)"
                  "  (try (http/write w \"x\") (await (sleep 10000))"
                  "       (finally (reset! done true))))} " +
                  opts +
                  ")))))"
                  "(await (sleep 50)) [(:body r) @done]"),
              "[\"too large\" true]")
        << url << " " << opts;
    EXPECT_EQ(run("(try (http/write @kept \"x\") (catch e (:kind (error-data e))))"), ":closed");
  }
}

TEST_F(HttpUploadTest, CancellingTheRequestCancelsTheFunction) {
  EXPECT_EQ(run("(def done (atom nil))"
                "(def p (http/request {:url \"{url}/held\" :method :post"
                "  :body (fn [w] (try (await (sleep 10000)) (finally (reset! done true))))}))"
                "(await (sleep 50)) (cancel p) (await (sleep 20))"
                "[(try (await p) (catch e (:type (error-data e)))) @done]"),
            "[:cancelled true]");
}

// :timeout-ms counts from the body's end: writing may take longer, and a
// server that then does not answer within it times out.
TEST_F(HttpUploadTest, TheDeadlineCountsFromTheBodysEnd) {
  for (const char* opts : {"{}", "{:version :http2}"}) {
    EXPECT_EQ(
        run(std::string("(post \"{url}/count\" (fn [w] (http/write w \"ab\") (await (sleep 400))"
                        "                               (http/write w \"c\"))"
                        "      (merge {:timeout-ms 200} ") +
            opts + "))"),
        "\"3 294 " + std::string(opts[1] == '}' ? "chunked" : "none") + "\"")
        << opts;
    EXPECT_EQ(run(std::string("(try (post \"{url}/silent\" (fn [w] (http/write w \"x\"))"
                              "            (merge {:timeout-ms 200} ") +
                  opts + "))  (catch e (:kind (error-data e))))"),
              ":timeout")
        << opts;
  }
}

// The writer is the function's: written to after the function returned,
// while the request still waits for its answer, it raises.
TEST_F(HttpUploadTest, TheWriterEndsWithTheFunction) {
  EXPECT_EQ(
      run("(def kept (atom nil))"
          "(def p (http/request {:url \"{url}/silent\" :method :post"
          "                      :body (fn [w] (reset! kept w))}))"
          "(await (sleep 50))"
          "(try (http/write @kept \"late\") (catch e [(:kind (error-data e)) (error-message e)]))"),
      "[:closed \"http/write " + server_.url("/silent") + ": the :body function has returned\"]");
  run("(cancel p)");
}

TEST_F(HttpUploadTest, OptionsThatCannotGoWithAFunction) {
  EXPECT_NE(run("(http/request {:url \"{url}/\" :body (fn [w]) :max-redirects 2})")
                .find("a :body function follows no redirects"),
            std::string::npos);
  EXPECT_NE(run("(http/request {:url \"{url}/\" :body (fn [w]) :as :upgrade})")
                .find("a :body function with :as :upgrade"),
            std::string::npos);
  EXPECT_NE(
      run("(http/request {:url \"{url}/\" :body (fn [w]) :json 1})").find("both :body and :json"),
      std::string::npos);
  EXPECT_NE(run("(http/write 1 \"x\")").find("a :body function's writer"), std::string::npos);
}

}  // namespace
}  // namespace valk::test
