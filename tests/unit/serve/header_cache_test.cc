// ResponseHeaderCache: response header maps converted once, found by
// identity. What it returns must always be the headers of the map it is
// given, whatever was cached before and whatever the collector freed.
#include "serve/header_cache.h"

#include <gtest/gtest.h>

#include <string>

#include "lisp/collections.h"
#include "lisp/isolate.h"

namespace valk::serve {
namespace {

class HeaderCacheTest : public ::testing::Test {
 protected:
  HeaderCacheTest() : iso_(options()), cache_(iso_) {}

  static lisp::IsolateOptions options() {
    lisp::IsolateOptions o;
    o.prelude = false;
    return o;
  }

  // {"x-n" "<n>", "content-type" "text/plain"}
  lisp::Value headers_map(size_t n) {
    lisp::Heap& h = iso_.heap();
    lisp::Value kvs[] = {h.string("x-n"), h.string(std::to_string(n)), h.string("content-type"),
                         h.string("text/plain")};
    return lisp::map_from(h, kvs, 2);
  }

  // As read_response does: the cached headers, else read() them.
  std::string read(lisp::Value map) {
    Headers out;
    std::string error;
    if (std::shared_ptr<const SharedHeaders> cached = cache_.find(map)) {
      out = cached->headers();
    } else if (!cache_.read(map, &out, &error)) {
      return "ERROR " + error;
    }
    std::string s;
    for (const Header& h : out) {
      s += h.name + ": " + h.value + "; ";
    }
    return s;
  }

  lisp::Isolate iso_;
  ResponseHeaderCache cache_;
};

TEST_F(HeaderCacheTest, RepeatedMapGivesTheSameHeaders) {
  lisp::Value m = headers_map(1);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(read(m), "x-n: 1; content-type: text/plain; ");
  }
  EXPECT_EQ(read(headers_map(2)), "x-n: 2; content-type: text/plain; ");
  EXPECT_EQ(read(m), "x-n: 1; content-type: text/plain; ");
  EXPECT_EQ(read(lisp::Value::nil()), "");
}

// Handlers that alternate between text, json and html answer with a few
// shared maps in turn: each must end up cached. A map made per response
// must not be.
TEST_F(HeaderCacheTest, MapsUsedInTurnAreCachedFreshOnesAreNot) {
  lisp::Value shared[] = {headers_map(1), headers_map(2), headers_map(3)};
  for (int round = 0; round < 2; round++) {
    for (lisp::Value m : shared) {
      read(m);
    }
  }
  uint64_t before = cache_.hits();
  for (lisp::Value m : shared) {
    read(m);
  }
  EXPECT_EQ(cache_.hits(), before + 3);
  before = cache_.hits();
  for (size_t n = 10; n < 30; n++) {
    read(headers_map(n));
  }
  EXPECT_EQ(cache_.hits(), before);
}

TEST_F(HeaderCacheTest, AppendsAfterWhatIsThere) {
  lisp::Value m = headers_map(1);
  read(m);
  read(m);
  Headers out = {{"x-first", "1"}};
  std::string error;
  ASSERT_TRUE(cache_.read(m, &out, &error));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].name, "x-first");
  EXPECT_EQ(out[1].value, "1");
}

TEST_F(HeaderCacheTest, InvalidMapsAreRefusedEveryTime) {
  lisp::Heap& h = iso_.heap();
  lisp::Value kvs[] = {h.string("x-bad"), h.string("a\r\nb")};
  lisp::Value bad = lisp::map_from(h, kvs, 1);
  for (int i = 0; i < 3; i++) {
    EXPECT_NE(read(bad).find("ERROR"), std::string::npos);
  }
}

// A cached map must stay alive: were it freed, a new map could take its
// cell, and the cache would answer for it with the old map's headers.
TEST_F(HeaderCacheTest, CachedMapsOutliveACollection) {
  for (size_t n = 0; n < ResponseHeaderCache::kEntries; n++) {
    lisp::Value m = headers_map(n);
    read(m);
    read(m);  // admitted on the second sight
  }
  iso_.heap().collect();
  for (size_t n = 100; n < 2100; n++) {
    lisp::Value m = headers_map(n);
    std::string want = "x-n: " + std::to_string(n) + "; content-type: text/plain; ";
    ASSERT_EQ(read(m), want);
    ASSERT_EQ(read(m), want);
    if (n % 100 == 0) {
      iso_.heap().collect();
    }
  }
}

}  // namespace
}  // namespace valk::serve
