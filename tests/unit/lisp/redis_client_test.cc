// The Redis client against a server that misbehaves: one that answers a
// command with the header of an array of two billion elements. hiredis
// would allocate their slots (16 GB) on reading the header; the client
// refuses the reply and fails the command instead.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "lisp/isolate.h"
#include "lisp/printer.h"
#include "lisp/redis_client.h"

namespace valk::lisp {
namespace {

TEST(RedisClient, AReplyArrayTooLargeFailsTheCommand) {
  std::string path = testing::TempDir() + "/huge_array_redis.sock";
  unlink(path.c_str());
  int listener = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  std::thread server([listener] {
    int c = accept(listener, nullptr, nullptr);
    char buf[256];
    if (c >= 0 && read(c, buf, sizeof buf) > 0) {  // the PING
      const char reply[] = "*2111111111\r\n:1\r\n";
      ssize_t n = write(c, reply, sizeof reply - 1);
      (void)n;
      n = read(c, buf, sizeof buf);  // until the client hangs up
    }
    close(c);
  });
  IsolateOptions o;
  o.prelude = false;
  Isolate iso(o);
  EvalResult r = iso.eval_string("(try (await (redis/cmd (redis/connect \"unix://" + path +
                                     "\") \"PING\"))"
                                     "  (catch e [(error-message e) (:kind (error-data e))]))",
                                 "test.lisp");
  server.join();
  close(listener);
  ASSERT_TRUE(r.ok) << iso.describe(r.value);
  std::string printed = print_str(r.value, true);
  EXPECT_NE(printed.find("Redis sent a reply too large to read (an array of more than 16777216 "
                         "elements)"),
            std::string::npos)
      << printed;
  EXPECT_NE(printed.find(":connection"), std::string::npos) << printed;
}

}  // namespace
}  // namespace valk::lisp
