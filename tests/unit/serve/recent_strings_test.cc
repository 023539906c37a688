// RecentStrings: a text seen again gets the string made for it before, and
// whatever it returns always holds exactly the text asked for.
#include "serve/recent_strings.h"

#include <gtest/gtest.h>

#include <string>

#include "lisp/isolate.h"
#include "lisp/object.h"

namespace valk::serve {
namespace {

class RecentStringsTest : public ::testing::Test {
 protected:
  RecentStringsTest() : iso_(options()), recent_(iso_) {}

  static lisp::IsolateOptions options() {
    lisp::IsolateOptions o;
    o.prelude = false;
    return o;
  }

  static std::string_view text(lisp::Value v) {
    EXPECT_TRUE(v.is(lisp::Tag::String));
    return static_cast<lisp::String*>(v.o)->view();
  }

  lisp::Isolate iso_;
  RecentStrings recent_;
};

TEST_F(RecentStringsTest, ATextSeenAgainGetsTheSameString) {
  for (std::string s : {"", "/", "127.0.0.1:8080", "h2load nghttp2/1.52.0", "text/html,*/*"}) {
    lisp::Value first = recent_.get(s);
    EXPECT_EQ(text(first), s);
    EXPECT_EQ(recent_.get(s).o, first.o) << s;
  }
}

TEST_F(RecentStringsTest, LongTextsAreMadeAfreshEachTime) {
  std::string cookie(RecentStrings::kMaxBytes + 1, 'c');
  lisp::Value first = recent_.get(cookie);
  lisp::Value second = recent_.get(cookie);
  EXPECT_EQ(text(first), cookie);
  EXPECT_EQ(text(second), cookie);
  EXPECT_NE(first.o, second.o);
}

// Texts that share a slot, or differ only where the slot is not computed
// from (the middle of a long text), replace each other: each answer is
// still the text asked for.
TEST_F(RecentStringsTest, EveryAnswerHoldsTheTextAskedFor) {
  std::string long_a = "prefix-" + std::string(40, 'a') + "-suffix";
  std::string long_b = "prefix-" + std::string(40, 'b') + "-suffix";
  for (int round = 0; round < 3; round++) {
    ASSERT_EQ(text(recent_.get(long_a)), long_a);
    ASSERT_EQ(text(recent_.get(long_b)), long_b);
    for (int i = 0; i < 1000; i++) {
      std::string s = "value-" + std::to_string(i);
      ASSERT_EQ(text(recent_.get(s)), s);
    }
  }
}

// The strings in the table are rooted: after a collection, and after the
// freed cells have been reused, the table still answers with the strings
// it made (an unrooted one would have been freed and its cell reused).
TEST_F(RecentStringsTest, StringsOutliveACollection) {
  std::vector<std::string> texts;
  std::vector<const void*> objects;
  for (int i = 0; i < 4; i++) {
    texts.push_back("/route/" + std::to_string(i));
    objects.push_back(recent_.get(texts.back()).o);
  }
  for (size_t i = 0; i < texts.size(); i++) {
    ASSERT_EQ(recent_.get(texts[i]).o, objects[i]) << "these texts share a slot: pick others";
  }
  iso_.heap().collect();
  for (int i = 0; i < 2000; i++) {
    iso_.heap().string("garbage-" + std::to_string(i));
  }
  for (size_t i = 0; i < texts.size(); i++) {
    lisp::Value v = recent_.get(texts[i]);
    EXPECT_EQ(text(v), texts[i]);
    EXPECT_EQ(v.o, objects[i]);
  }
}

}  // namespace
}  // namespace valk::serve
