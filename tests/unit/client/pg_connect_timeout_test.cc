// A PostgreSQL pool gives up on a server that takes the connection but
// never answers, after the conninfo's connect_timeout (libpq leaves that
// to its caller in non-blocking mode). The rest of pg/ is tested against a
// real server in tests/lisp/pg_test.lisp.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "../net/net_test_util.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"

namespace valk::test {
namespace {

// A socket that listens and never accepts: the kernel completes the
// handshake, and the client's startup message goes unanswered.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_;
};

TEST(PgConnectTimeout, ASilentServerFailsTheQueryAfterTheTimeout) {
  SilentListener silent;
  lisp::Isolate iso;
  auto start = std::chrono::steady_clock::now();
  lisp::EvalResult r = iso.eval_string(
      "(try (await (pg/query (pg/connect \"host=127.0.0.1 port=" + std::to_string(silent.port()) +
          " user=x dbname=y connect_timeout=1\") \"SELECT 1\"))"
          "  (catch e [(:kind (error-data e)) (error-message e)]))",
      "test.lisp");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok) << iso.describe(r.value);
  EXPECT_EQ(lisp::print_str(r.value, true),
            "[:connection \"pg/query: timed out connecting after 1000 ms\"]");
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(5));
}

}  // namespace
}  // namespace valk::test
