#include "lisp/page_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

namespace valk::lisp {
namespace {

TEST(PagePool, PagesAreDistinctAlignedAndWritable) {
  PagePool pool;
  std::set<char*> seen;
  for (size_t i = 0; i < PagePool::kPagesPerChunk + 3; i++) {
    char* page = pool.take();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(page) % PagePool::kPageSize, 0u);
    memset(page, 0xab, PagePool::kPageSize);
    EXPECT_TRUE(seen.insert(page).second);
  }
  EXPECT_EQ(pool.chunks(), 2u);
}

TEST(PagePool, TakesLowAddressesFirst) {
  PagePool pool;
  char* a = pool.take();
  char* b = pool.take();
  EXPECT_EQ(b, a + PagePool::kPageSize);
}

TEST(PagePool, TrimReturnsOnlyWholeFreeChunksBeyondTheReserve) {
  PagePool pool;
  std::vector<char*> pages;
  for (size_t i = 0; i < 3 * PagePool::kPagesPerChunk; i++) {
    pages.push_back(pool.take());
  }
  EXPECT_EQ(pool.chunks(), 3u);
  // Free all of the first two chunks and all but one page of the third.
  for (size_t i = 0; i + 1 < pages.size(); i++) {
    pool.give(pages[i]);
  }
  pool.trim(PagePool::kPagesPerChunk);
  // One whole free chunk goes; the other stays as the reserve, and the
  // third still has a page in use.
  EXPECT_EQ(pool.chunks(), 2u);
  EXPECT_EQ(pool.free_pages(), 2 * PagePool::kPagesPerChunk - 1);
  pool.give(pages.back());
  pool.trim(0);
  EXPECT_EQ(pool.chunks(), 0u);
  EXPECT_EQ(pool.free_pages(), 0u);
  // The pool maps again on demand.
  char* page = pool.take();
  page[0] = 1;
  EXPECT_EQ(pool.chunks(), 1u);
}

}  // namespace
}  // namespace valk::lisp
