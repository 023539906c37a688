// permessage-deflate's message compressor (src/lisp/websocket_deflate.cc),
// with one side's output fed to the other's input as a WebSocket would.
#include "lisp/websocket_deflate.h"

#include <gtest/gtest.h>

#include <string>

namespace valk::lisp {
namespace {

std::string sample(size_t n) {
  std::string s;
  while (s.size() < n) {
    s += "{\"id\":" + std::to_string(s.size()) + ",\"user\":\"ada\",\"ok\":true}";
  }
  s.resize(n);
  return s;
}

// Sends `messages` from `out` to `in`; each must come back as it went.
void round_trip(MessageDeflate& out, MessageDeflate& in, const std::vector<std::string>& messages) {
  for (const std::string& m : messages) {
    std::string wire, back;
    ASSERT_TRUE(out.compress(m, &wire));
    ASSERT_EQ(in.decompress(wire, m.size(), &back), MessageDeflate::Inflated::kOk);
    EXPECT_EQ(back, m);
  }
}

TEST(WebSocketDeflate, MessagesOfAnySizeComeBackAfresh) {
  MessageDeflate out(15, true, true), in(15, true, true);
  round_trip(out, in, {sample(1), sample(64), sample(1000), sample(40000), sample(300000)});
}

TEST(WebSocketDeflate, KeptContextCompressesRepeatsToLittle) {
  MessageDeflate out(15, false, false), in(15, false, false);
  std::string m = sample(2000);
  round_trip(out, in, {m, m, m});
  // The same message again refers back to the last: a few bytes.
  std::string wire;
  ASSERT_TRUE(out.compress(m, &wire));
  EXPECT_LT(wire.size(), 40u);
  std::string back;
  ASSERT_EQ(in.decompress(wire, m.size(), &back), MessageDeflate::Inflated::kOk);
  EXPECT_EQ(back, m);
}

TEST(WebSocketDeflate, ANarrowWindowIsKept) {
  MessageDeflate out(9, false, false), in(15, false, false);
  round_trip(out, in, {sample(5000), sample(5000)});
}

TEST(WebSocketDeflate, InflatingStopsPastTheLimit) {
  MessageDeflate out(15, true, true), in(15, true, true);
  std::string zeros(1 << 20, '\0'), wire, back;
  ASSERT_TRUE(out.compress(zeros, &wire));
  EXPECT_LT(wire.size(), 2000u);
  EXPECT_EQ(in.decompress(wire, 65536, &back), MessageDeflate::Inflated::kTooBig);
  EXPECT_LE(back.size(), 65536u + 16384u);
  // The inflater starts afresh after a failure.
  round_trip(out, in, {sample(100)});
}

TEST(WebSocketDeflate, DataThatIsNotDeflateIsCorrupt) {
  MessageDeflate in(15, true, true);
  std::string back;
  EXPECT_EQ(in.decompress("\xff\xff\xff not deflate", 1000, &back),
            MessageDeflate::Inflated::kCorrupt);
}

}  // namespace
}  // namespace valk::lisp
