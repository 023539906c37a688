// The own HTTP/1.1 client over TLS (h1_tls.h), which takes https://
// requests asked for as HTTP/1.1 (:version :http1, :as :upgrade), against
// libvalk's server with the development certificates: verification
// against a CA file, the system's CAs, or none; the server's name; a kept
// connection; a large answer; a streamed request body; an upgrade.
#include <gtest/gtest.h>

#include <string>

#include "../net/net_test_util.h"
#include "lisp/h1_client.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"

namespace valk::test {
namespace {

using lisp::EvalResult;
using lisp::Isolate;

// Paths the server answers:
//   /echo    the method and the body that came
//   /big     1 MiB of "b"
//   /upgrade 101, then what comes goes back upper-cased ("bye" ends it)
Handler tls_handler() {
  return [](Request& req, Responder res) {
    std::string path(req.path());
    if (path == "/big") {
      res.respond(200, {}, std::string(1 << 20, 'b'));
    } else if (path == "/upgrade" && req.upgrade_offered()) {
      res.start(101, {{"upgrade", "echo"}});
      req.read_body(upper_case_echo(res), BodyFlow::kPaced);
    } else {
      auto body = std::make_shared<std::string>(std::string(req.method()) + " ");
      req.read_body([res, body](std::string_view chunk, bool last) {
        body->append(chunk);
        if (last) {
          res.respond(200, {}, *body);
        }
      });
    }
  };
}

class H1TlsTest : public ::testing::Test {
 protected:
  H1TlsTest() : server_(tls_options(), tls_handler()) {}

  // What `src` evaluates to, printed, with {url} the server's https:// URL
  // and {ca} the development CA; or "ERROR " and the error's report.
  std::string run(std::string src) {
    for (auto [from, to] : {std::pair<std::string, std::string>{"{url}", server_.url("", true)},
                            {"{ca}", cert_path("ca.crt")}}) {
      for (size_t at = src.find(from); at != std::string::npos; at = src.find(from, at)) {
        src.replace(at, from.size(), to);
      }
    }
    EvalResult r = iso_.eval_string(src, "test.lisp");
    if (!r.ok) {
      return "ERROR " + iso_.describe(r.value);
    }
    return lisp::print_str(r.value, true);
  }

  TestServer server_;
  Isolate iso_;
};

TEST_F(H1TlsTest, AsksOverTlsAndKeepsTheConnection) {
  EXPECT_EQ(run("(def opts {:ca-file \"{ca}\" :version :http1})"
                "(let [r (await (http/post \"{url}/echo\" (assoc opts :body \"over tls\")))]"
                "  [(:status r) (:protocol r) (:body r)])"),
            "[200 \"HTTP/1.1\" \"POST over tls\"]");
  EXPECT_EQ(run("(count (:body (await (http/get \"{url}/big\" opts))))"), "1048576");
  // Both on one connection, which the own client holds (libcurl's would
  // not count here).
  EXPECT_EQ(iso_.h1_client().connections(), 1u);
  // "localhost" is a name of the certificate, and goes as SNI.
  EXPECT_EQ(run("(:status (await (http/get \"https://localhost:" + std::to_string(server_.port()) +
                "/echo\" opts)))"),
            "200");
}

TEST_F(H1TlsTest, VerifiesTheServer) {
  // The development CA is not the system's.
  EXPECT_EQ(run("(try (await (http/get \"{url}/echo\" {:version :http1}))"
                "  (catch e [(:kind (error-data e)) (error-message e)]))"),
            "[:tls \"http/request " + server_.url("/echo", true) +
                ": TLS with 127.0.0.1:" + std::to_string(server_.port()) +
                " failed: the server's certificate was not accepted: unable to get local issuer "
                "certificate\"]");
  EXPECT_EQ(run("(:status (await (http/get \"{url}/echo\" {:version :http1 :insecure true})))"),
            "200");
  // The connection kept from that one is not one a verifying request
  // takes.
  EXPECT_EQ(run("(try (await (http/get \"{url}/echo\" {:version :http1}))"
                "  (catch e (:kind (error-data e))))"),
            ":tls");
  EXPECT_NE(run("(try (await (http/get \"{url}/echo\" {:version :http1 :ca-file \"/nowhere\"}))"
                "  (catch e (error-message e)))")
                .find("could not load the CA certificates /nowhere"),
            std::string::npos);
}

TEST_F(H1TlsTest, VerifiesTheServersName) {
  ServerOptions o = base_options();
  o.certificates = {{cert_path("other.crt"), cert_path("other.key")}};  // other.test's
  TestServer other(o, tls_handler());
  EXPECT_EQ(run("(try (await (http/get \"" + other.url("/echo", true) +
                "\" {:version :http1 :ca-file \"{ca}\"})) (catch e (error-message e)))"),
            "\"http/request " + other.url("/echo", true) +
                ": TLS with 127.0.0.1:" + std::to_string(other.port()) +
                " failed: the server's certificate was not accepted: IP address mismatch\"");
}

TEST_F(H1TlsTest, StreamsARequestBodyOverTls) {
  // The own client's, and libcurl's over HTTP/2.
  for (const char* version : {":version :http1", ""}) {
    EXPECT_EQ(run(std::string("(:body (await (http/request {:url \"{url}/echo\" :method :put ") +
                  version +
                  "  :ca-file \"{ca}\""
                  "  :body (fn [w] (http/write w \"one \") (http/write w \"two\"))})))"),
              "\"PUT one two\"")
        << version;
  }
}

TEST_F(H1TlsTest, UpgradesOverTls) {
  EXPECT_EQ(run("(def r (await (http/request {:url \"{url}/upgrade\" :as :upgrade :ca-file \"{ca}\""
                "                               :headers {\"upgrade\" \"echo\"}})))"
                "(http/write r \"secret\")"
                "[(:status r) (bytes->string (read-chunk r))]"),
            "[101 \"SECRET\"]");
  EXPECT_EQ(run("(http/write r \"bye\") [(bytes->string (read-chunk r)) (read-chunk r)]"),
            "[\"BYE\" nil]");
  EXPECT_NE(run("(http/request {:url \"{url}/upgrade\" :as :upgrade :version :http2})")
                .find(":as :upgrade goes over HTTP/1.1"),
            std::string::npos);
}

}  // namespace
}  // namespace valk::test
