// gzip and gunzip on byte strings a Lisp test cannot build: streams of
// several members, cut short, or followed by garbage.
#include <gtest/gtest.h>

#include <string>

#include "lisp/heap.h"
#include "lisp/isolate.h"
#include "lisp/object.h"
#include "lisp/printer.h"

namespace valk::lisp {
namespace {

class CompressTest : public ::testing::Test {
 protected:
  CompressTest() : iso_(options()) {}

  static IsolateOptions options() {
    IsolateOptions o;
    o.prelude = false;
    return o;
  }

  std::string eval(const std::string& src) {
    EvalResult r = iso_.eval_string(src, "test.lisp");
    return r.ok ? print_str(r.value, true) : "ERROR " + iso_.describe(r.value);
  }

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

  Isolate iso_;
};

TEST_F(CompressTest, GunzipReadsEveryMember) {
  define_bytes("two", gzipped("ab") + gzipped("cd"));
  EXPECT_EQ(eval("(bytes->string (gunzip two))"), "\"abcd\"");
}

TEST_F(CompressTest, GunzipRefusesDataCutShort) {
  std::string whole = gzipped("some text that is long enough to cut");
  for (size_t keep : {size_t{0}, size_t{5}, whole.size() / 2, whole.size() - 1}) {
    define_bytes("cut", whole.substr(0, keep));
    EXPECT_NE(eval("(gunzip cut)").find("gunzip: the gzip data is cut short (:decode-error)"),
              std::string::npos)
        << keep;
  }
}

TEST_F(CompressTest, GunzipRefusesGarbageAfterAMember) {
  define_bytes("tail", gzipped("ab") + "garbage");
  EXPECT_NE(eval("(gunzip tail)").find("gunzip: not gzip data"), std::string::npos);
}

TEST_F(CompressTest, GzipWritesTheGzipHeader) {
  std::string g = gzipped("x");
  ASSERT_GE(g.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(g[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(g[1]), 0x8b);
  EXPECT_EQ(g[2], 8);  // deflate
}

}  // namespace
}  // namespace valk::lisp
