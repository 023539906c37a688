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
void round_trip(const MessageDeflate& out, MessageDeflate& in,
                const std::vector<std::string>& messages) {
  for (const std::string& m : messages) {
    std::string wire, back;
    ASSERT_TRUE(out.compress(m, &wire));
    ASSERT_EQ(in.decompress(wire, m.size(), &back), MessageDeflate::Inflated::kOk);
    EXPECT_EQ(back, m);
  }
}

// A peer's compressor that keeps its window from message to message (as
// a browser's does unless told otherwise).
struct KeptContext {
  KeptContext() { deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY); }
  ~KeptContext() { deflateEnd(&z); }
  std::string compress(const std::string& m) {
    std::string out(m.size() + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(m.data()));
    z.avail_in = static_cast<uInt>(m.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_SYNC_FLUSH);
    out.resize(out.size() - z.avail_out - 4);
    return out;
  }
  z_stream z{};
};

TEST(WebSocketDeflate, MessagesOfAnySizeComeBackAfresh) {
  MessageDeflate out(15, true), in(15, true);
  round_trip(out, in, {sample(1), sample(64), sample(1000), sample(40000), sample(300000)});
}

TEST(WebSocketDeflate, APeerThatKeepsItsWindowIsRead) {
  KeptContext peer;
  MessageDeflate in(15, false);
  std::string m = sample(2000);
  for (int i = 0; i < 3; i++) {
    std::string wire = peer.compress(m), back;
    if (i > 0) {
      EXPECT_LT(wire.size(), 40u);  // the same message again refers back to the last
    }
    ASSERT_EQ(in.decompress(wire, m.size(), &back), MessageDeflate::Inflated::kOk);
    EXPECT_EQ(back, m);
  }
}

TEST(WebSocketDeflate, ANarrowWindowIsKept) {
  MessageDeflate out(9, true), in(15, true);
  round_trip(out, in, {sample(5000), sample(5000)});
}

TEST(WebSocketDeflate, InflatingStopsPastTheLimit) {
  MessageDeflate out(15, true), in(15, true);
  std::string zeros(1 << 20, '\0'), wire, back;
  ASSERT_TRUE(out.compress(zeros, &wire));
  EXPECT_LT(wire.size(), 2000u);
  EXPECT_EQ(in.decompress(wire, 65536, &back), MessageDeflate::Inflated::kTooBig);
  EXPECT_LE(back.size(), 65536u + 16384u);
  // The inflater starts afresh after a failure.
  round_trip(out, in, {sample(100)});
}

TEST(WebSocketDeflate, DataThatIsNotDeflateIsCorrupt) {
  MessageDeflate in(15, true);
  std::string back;
  EXPECT_EQ(in.decompress("\xff\xff\xff not deflate", 1000, &back),
            MessageDeflate::Inflated::kCorrupt);
}

}  // namespace
}  // namespace valk::lisp
