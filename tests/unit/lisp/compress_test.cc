// gzip and gunzip on byte strings a Lisp test cannot build: streams of
// several members, cut short, or followed by garbage.
#include <gtest/gtest.h>

#include <string>

#include "bare_isolate.h"
#include "lisp/heap.h"
#include "lisp/isolate.h"
#include "lisp/object.h"
#include "lisp/printer.h"

namespace valk::lisp {
namespace {

class CompressTest : public BareIsolateTest {
 protected:
  // The bytes (gzip text) makes.
  std::string gzipped(const std::string& text) {
    EvalResult r = iso_.eval_string("(gzip \"" + text + "\")", "test.lisp");
    EXPECT_TRUE(r.ok && r.value.is(Tag::Bytes));
    auto* b = static_cast<Bytes*>(r.value.o);
    return std::string(reinterpret_cast<const char*>(b->data), b->size);
  }

  void define_bytes(const char* name, const std::string& data) {
    iso_.define(name, val(iso_.heap().make_bytes(reinterpret_cast<const uint8_t*>(data.data()),
                                                 data.size())));
  }
};

TEST_P(CompressTest, GunzipReadsEveryMember) {
  define_bytes("two", gzipped("ab") + gzipped("cd"));
  EXPECT_EQ(eval("(bytes->string (gunzip two))"), "\"abcd\"");
}

TEST_P(CompressTest, GunzipRefusesDataCutShort) {
  std::string whole = gzipped("some text that is long enough to cut");
  for (size_t keep : {size_t{0}, size_t{5}, whole.size() / 2, whole.size() - 1}) {
    define_bytes("cut", whole.substr(0, keep));
    EXPECT_NE(eval("(gunzip cut)").find("gunzip: the gzip data is cut short (:decode-error)"),
              std::string::npos)
        << keep;
  }
}

TEST_P(CompressTest, GunzipRefusesGarbageAfterAMember) {
  define_bytes("tail", gzipped("ab") + "garbage");
  EXPECT_NE(eval("(gunzip tail)").find("gunzip: not gzip data"), std::string::npos);
}

TEST_P(CompressTest, GzipWritesTheGzipHeader) {
  std::string g = gzipped("x");
  ASSERT_GE(g.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(g[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(g[1]), 0x8b);
  EXPECT_EQ(g[2], 8);  // deflate
}

INSTANTIATE_TEST_SUITE_P(Gc, CompressTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Stress" : "Normal"; });

}  // namespace
}  // namespace valk::lisp
