// RecentHeaders: a header list seen again gets the map made for it before;
// any other list, even one with the same text cut at other places, gets
// nil, so the request map is built afresh.
#include "serve/recent_headers.h"

#include <gtest/gtest.h>

#include <string>

#include "lisp/isolate.h"

namespace valk::serve {
namespace {

class RecentHeadersTest : public ::testing::Test {
 protected:
  RecentHeadersTest() : iso_(options()), recent_(iso_) {}

  static lisp::IsolateOptions options() {
    lisp::IsolateOptions o;
    o.prelude = false;
    return o;
  }

  // A header list over `text_`, as HttpRequest lays one out.
  HeaderList list(std::initializer_list<std::pair<std::string, std::string>> headers) {
    text_.clear();
    for (const auto& [n, v] : headers) {
      text_ += n;
      text_ += v;
    }
    HeaderList out;
    size_t at = 0;
    for (const auto& [n, v] : headers) {
      std::string_view name(text_.data() + at, n.size());
      at += n.size();
      out.emplace_back(name, std::string_view(text_.data() + at, v.size()));
      at += v.size();
    }
    return out;
  }

  lisp::Value a_map() { return iso_.heap().string("stands for a map"); }

  lisp::Isolate iso_;
  RecentHeaders recent_;
  std::string text_;
};

TEST_F(RecentHeadersTest, AListSeenAgainGetsTheSameMap) {
  HeaderList h = list({{"host", "example.com"}, {"user-agent", "curl/8"}});
  EXPECT_TRUE(recent_.get(h, text_).is_nil());
  lisp::Value m = a_map();
  recent_.put(h, text_, m);
  HeaderList again = list({{"host", "example.com"}, {"user-agent", "curl/8"}});
  EXPECT_EQ(recent_.get(again, text_).o, m.o);
}

TEST_F(RecentHeadersTest, OtherListsGetNil) {
  HeaderList h = list({{"host", "example.com"}, {"user-agent", "curl/8"}});
  recent_.put(h, text_, a_map());
  // The same text cut at other places.
  HeaderList cut = list({{"hos", "texample.com"}, {"user-agent", "curl/8"}});
  EXPECT_TRUE(recent_.get(cut, text_).is_nil());
  HeaderList value = list({{"host", "example.org"}, {"user-agent", "curl/8"}});
  EXPECT_TRUE(recent_.get(value, text_).is_nil());
  HeaderList fewer = list({{"host", "example.com"}});
  EXPECT_TRUE(recent_.get(fewer, text_).is_nil());
}

// A text that is not the list's names and values (here: none) is a miss,
// whatever was put with it.
TEST_F(RecentHeadersTest, ATextThatIsNotTheListsIsAMiss) {
  HeaderList one = list({{"x-test", "one"}});
  recent_.put(one, "", a_map());
  HeaderList two = list({{"x-test", "two"}});
  EXPECT_TRUE(recent_.get(two, "").is_nil());
}

TEST_F(RecentHeadersTest, LongListsAreNotKept) {
  HeaderList h = list({{"cookie", std::string(RecentHeaders::kMaxBytes, 'c')}});
  recent_.put(h, text_, a_map());
  EXPECT_TRUE(recent_.get(h, text_).is_nil());
}

// The maps in the table are rooted: after a collection and reuse of the
// freed cells, the table still answers with the object it was given.
TEST_F(RecentHeadersTest, MapsOutliveACollection) {
  HeaderList h = list({{"accept", "*/*"}});
  lisp::Value m = a_map();
  recent_.put(h, text_, m);
  iso_.heap().collect();
  for (int i = 0; i < 2000; i++) {
    iso_.heap().string("garbage-" + std::to_string(i));
  }
  lisp::Value got = recent_.get(h, text_);
  ASSERT_EQ(got.o, m.o);
  EXPECT_EQ(static_cast<lisp::String*>(got.o)->view(), "stands for a map");
}

}  // namespace
}  // namespace valk::serve
