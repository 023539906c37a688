// The reactor's building blocks: MPSC queue, slab, buffer pool.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <atomic>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "net/arena.h"
#include "net/buffer.h"
#include "net/chunk_queue.h"
#include "net/h2_memory.h"
#include "net/mpsc.h"
#include "net/reactor.h"
#include "net/slab.h"
#include "net/stream.h"
#include "util/ascii.h"
#include "util/read_buffer.h"
#include "valk/server.h"

namespace valk::net {
namespace {

TEST(HttpsRedirect, LocationKeepsTheHostAndTargetAndNamesOnlyAnOddPort) {
  EXPECT_EQ(https_location("example.com", 443, "/a?b=c"), "https://example.com/a?b=c");
  EXPECT_EQ(https_location("example.com:80", 443, "/"), "https://example.com/");
  EXPECT_EQ(https_location("example.com:8080", 8443, "/x"), "https://example.com:8443/x");
  EXPECT_EQ(https_location("[::1]:80", 443, "/"), "https://[::1]/");
  EXPECT_EQ(https_location("[::1]", 8443, "/"), "https://[::1]:8443/");
  EXPECT_EQ(https_location("", 443, "/"), "https://localhost/");
}

// What comes is read in order, in pieces of any size; all of it moves
// without a copy when it fits; the front goes once half was read.
TEST(ReadBuffer, ReadsWhatCameInOrder) {
  ReadBuffer b;
  b.append("abcdef");
  EXPECT_EQ(b.take_string(2), "ab");
  b.take(1);
  EXPECT_EQ(b.peek(), "def");
  b.append("gh");  // 3 of 6 read: the front goes
  EXPECT_EQ(b.peek(), "defgh");
  EXPECT_EQ(b.take_string(100), "defgh");
  EXPECT_EQ(b.unread(), 0u);
  const std::string body(1000, 'z');  // past the short-string buffer
  b.append(body);
  const char* at = b.peek().data();
  std::string all = b.take_string(1000);
  EXPECT_EQ(all, body);
  EXPECT_EQ(all.data(), at) << "copied";
  b.append("left");
  b.clear();
  EXPECT_EQ(b.unread(), 0u);
}

TEST(Mpsc, BoundedAndFifoPerProducer) {
  MpscQueue<int> q(4);
  EXPECT_TRUE(q.push(1));
  EXPECT_TRUE(q.push(2));
  EXPECT_TRUE(q.push(3));
  EXPECT_TRUE(q.push(4));
  EXPECT_FALSE(q.push(5));  // full: the caller gets backpressure
  int v = 0;
  for (int want = 1; want <= 4; ++want) {
    ASSERT_TRUE(q.pop(&v));
    EXPECT_EQ(v, want);
  }
  EXPECT_FALSE(q.pop(&v));
}

TEST(Mpsc, ManyProducersOneConsumer) {
  constexpr int kProducers = 3, kEach = 10000;
  MpscQueue<uint64_t> q(1024);
  std::atomic<int> wakeups{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kEach; ++i) {
        while (!q.push((static_cast<uint64_t>(p) << 32) | i)) {
          std::this_thread::yield();
        }
        if (q.claim_wakeup()) {
          wakeups++;
        }
      }
    });
  }
  std::vector<int> next(kProducers, 0);
  int got = 0;
  while (got < kProducers * kEach) {
    q.clear_wakeup();
    uint64_t v;
    while (q.pop(&v)) {
      int p = static_cast<int>(v >> 32), i = static_cast<int>(v & 0xffffffff);
      ASSERT_EQ(i, next[p]) << "producer " << p;  // per-producer order kept
      ++next[p];
      ++got;
    }
  }
  for (auto& t : producers) {
    t.join();
  }
  // Wakeups coalesce: far fewer than items.
  EXPECT_LT(wakeups.load(), kProducers * kEach);
}

struct Obj {
  explicit Obj(int v) : value(v) {}
  int value;
  char pad[100];
};

TEST(Slab, LimitReuseAndFigures) {
  Slab<Obj> slab(3);
  Obj* a = slab.make(1);
  Obj* b = slab.make(2);
  Obj* c = slab.make(3);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(slab.make(4), nullptr);
  EXPECT_EQ(slab.failures(), 1u);
  EXPECT_EQ(slab.in_use(), 3u);
  slab.destroy(b);
  Obj* d = slab.make(5);
  EXPECT_EQ(d, b);  // the freed slot is reused
  EXPECT_EQ(d->value, 5);
  EXPECT_EQ(slab.high_water(), 3u);
  slab.destroy(a);
  slab.destroy(c);
  slab.destroy(d);
  EXPECT_EQ(slab.in_use(), 0u);
}

TEST(Buffers, ChainAppendsAcrossBlocks) {
  BufferPool pool(2);
  BufChain chain;
  std::string data(kBufSize * 2 + 100, 'x');
  chain.append(pool, reinterpret_cast<const uint8_t*>(data.data()), data.size());
  EXPECT_EQ(chain.bytes(), data.size());
  EXPECT_EQ(chain.bufs().size(), 3u);
  EXPECT_EQ(pool.in_use(), 3u);
  BufChain other;
  chain.move_to(other);
  EXPECT_TRUE(chain.empty());
  other.release(pool);
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_EQ(pool.bytes(), 2 * kBufSize);  // keeps at most max_free blocks
}

TEST(Buffers, ReserveAndCommitWriteIntoTheBlocks) {
  BufferPool pool;
  BufChain chain;
  chain.set_block_cap(100);
  std::string head(30, 'h');
  chain.append(pool, reinterpret_cast<const uint8_t*>(head.data()), head.size());
  iovec spans[BufChain::kMaxSpans];
  // The tail's 70 free bytes come first, then new blocks of 100.
  int n = chain.reserve(pool, 250, spans);
  ASSERT_EQ(n, 3);
  EXPECT_EQ(spans[0].iov_len, 70u);
  EXPECT_EQ(spans[1].iov_len, 100u);
  EXPECT_EQ(spans[2].iov_len, 80u);
  for (int i = 0; i < n; ++i) {
    memset(spans[i].iov_base, 'a' + i, spans[i].iov_len);
  }
  EXPECT_EQ(pool.in_use(), 3u);
  // Fewer bytes than reserved: the blocks left empty go back.
  chain.commit(pool, 120);
  EXPECT_EQ(chain.bytes(), 150u);
  ASSERT_EQ(chain.bufs().size(), 2u);
  EXPECT_EQ(pool.in_use(), 2u);
  EXPECT_EQ(chain.bufs()[0].len, 100u);
  EXPECT_EQ(chain.bufs()[0].data[29], 'h');
  EXPECT_EQ(chain.bufs()[0].data[30], 'a');
  EXPECT_EQ(chain.bufs()[1].len, 50u);
  EXPECT_EQ(chain.bufs()[1].data[49], 'b');
  // Nothing committed: the chain is as it was.
  chain.reserve(pool, 300, spans);
  chain.commit(pool, 0);
  EXPECT_EQ(chain.bytes(), 150u);
  EXPECT_EQ(pool.in_use(), 2u);
  chain.release(pool);
}

// First in, first out across interleaved pushes and pops, including the
// compaction a queue that never drains (server-sent events) goes through.
TEST(ChunkQueue, FifoThroughCompaction) {
  ChunkQueue q;
  EXPECT_TRUE(q.empty());
  int pushed = 0, popped = 0;
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 3; ++i) {
      q.push_back(std::to_string(pushed++));
    }
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(q.front(), std::to_string(popped++));
      q.pop_front();
    }
    ASSERT_EQ(q.size(), static_cast<size_t>(pushed - popped));
    ASSERT_EQ(q[q.size() - 1], std::to_string(pushed - 1));
  }
  while (!q.empty()) {
    ASSERT_EQ(q.front(), std::to_string(popped++));
    q.pop_front();
  }
  EXPECT_EQ(popped, pushed);
  q.push_back("again");
  EXPECT_EQ(q.front(), "again");
  q.clear();
  EXPECT_TRUE(q.empty());
  // One chunk at a time, then a second behind a first, and back.
  for (int round = 0; round < 3; ++round) {
    q.push_back("a");
    ASSERT_EQ(q.size(), 1u);
    ASSERT_EQ(q[0], "a");
    q.pop_front();
    ASSERT_TRUE(q.empty());
    q.push_back("b");
    q.push_back("c");
    ASSERT_EQ(q.size(), 2u);
    ASSERT_EQ(q[0], "b");
    ASSERT_EQ(q[1], "c");
    q.pop_front();
    ASSERT_EQ(q.front(), "c");
    q.push_back("d");
    q.pop_front();
    ASSERT_EQ(q.front(), "d");
    q.pop_front();
    ASSERT_TRUE(q.empty());
  }
}

TEST(Counters, EveryCounterHasAName) {
  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(Counter::kCount); ++i) {
    names.insert(counter_name(static_cast<Counter>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(Counter::kCount));
  EXPECT_EQ(names.count("?"), 0u);
}

TEST(Responder, DefaultIsInvalid) {
  Responder r;
  EXPECT_FALSE(r.valid());
  EXPECT_EQ(r.respond(200, {}, ""), SendResult::kInvalid);
  EXPECT_EQ(r.write("x"), SendResult::kInvalid);
}

// Text and vectors share the arena: the inline buffer first, then heap
// blocks (one far larger than the rest), every piece where it was put.
TEST(Arena, BumpsThenGrowsAndAligns) {
  alignas(16) unsigned char buf[64];
  Arena a(buf, sizeof buf);
  std::vector<std::pair<char*, std::string>> texts;
  std::pmr::vector<uint64_t> v(&a);
  for (int i = 0; i < 200; ++i) {
    std::string t(static_cast<size_t>(i % 7 == 3 ? 5000 : i % 13), static_cast<char>('a' + i % 26));
    char* p = a.bytes(t.size());
    memcpy(p, t.data(), t.size());
    texts.emplace_back(p, t);
    v.push_back(static_cast<uint64_t>(i));
    ASSERT_EQ(reinterpret_cast<uintptr_t>(v.data()) % alignof(uint64_t), 0u);
  }
  EXPECT_TRUE(texts.front().first >= reinterpret_cast<char*>(buf) &&
              texts.front().first < reinterpret_cast<char*>(buf) + sizeof buf);
  for (auto& [p, t] : texts) {
    ASSERT_EQ(std::string(p, t.size()), t);
  }
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(v[static_cast<size_t>(i)], static_cast<uint64_t>(i));
  }
}

// Every byte at every place of words and tails: only A-Z change, and no
// byte with the high bit set (0xC1 is 'A' | 0x80).
TEST(AsciiLower, CopyAndInPlaceMatchAsciiLowerOnEveryByte) {
  for (size_t n = 0; n <= 20; ++n) {
    for (int c = 0; c < 256; ++c) {
      std::string src(n, 'Q');
      for (size_t i = 0; i < n; i += 3) {
        src[i] = static_cast<char>(c);
      }
      std::string want = src;
      for (char& ch : want) {
        ch = ascii_lower(ch);
      }
      std::string got(n, '\0');
      ascii_lower_copy(got.data(), src.data(), n);
      ASSERT_EQ(got, want) << "n " << n << " byte " << c;
      lower_in_place(src);
      ASSERT_EQ(src, want) << "in place: n " << n << " byte " << c;
    }
  }
}

// The response header check's byte table against nghttp2's own checks, for
// every byte: a name may hold what nghttp2 takes in a (lower-case) name,
// and upper case; a value what nghttp2_check_header_value takes.
TEST(HeaderCheck, AgreesWithNghttp2OnEveryByte) {
  auto bytes = [](const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); };
  for (int c = 0; c < 256; ++c) {
    std::string b(1, static_cast<char>(c));
    std::string lower = "x" + ascii_lowered(b);
    bool name_ok = nghttp2_check_header_name(bytes(lower), lower.size()) != 0;
    bool value_ok = nghttp2_check_header_value(bytes(b), 1) != 0;
    EXPECT_EQ(header_ok({"x" + b, "v"}), name_ok) << c;
    EXPECT_EQ(header_ok({"x", "v" + b}), value_ok) << c;
    // Past the first four bytes too (the check is unrolled by four).
    EXPECT_EQ(header_ok({"abcdefgh" + b, "abcdefgh" + b}), name_ok && value_ok) << c;
  }
  EXPECT_FALSE(header_ok({"", "v"}));
  EXPECT_TRUE(header_ok({"x", ""}));
  EXPECT_TRUE(header_problem({"x", "v"}).empty());
  EXPECT_FALSE(header_problem({"x y", "v"}).empty());
  EXPECT_FALSE(header_problem({"x", "a\r\nb"}).empty());
}

// H2Memory: blocks of a page or more are its own; release_idle() drops the
// frame buffer's pages and those of all-zero blocks, and keeps the rest.
TEST(H2Memory, ReleasesTheFrameBufferAndZeroBlocksOnly) {
  H2Memory m;
  nghttp2_mem* mem = m.mem();
  auto* frame = static_cast<char*>(mem->malloc(16394, mem->mem_user_data));
  memset(frame, 'f', 16394);
  m.session_made();
  auto* zero = static_cast<char*>(mem->calloc(1, 4096, mem->mem_user_data));
  auto* kept = static_cast<char*>(mem->malloc(8192, mem->mem_user_data));
  memset(kept, 'k', 8192);
  auto* small = static_cast<char*>(mem->malloc(100, mem->mem_user_data));
  memset(small, 's', 100);
  EXPECT_EQ(m.release_idle(), 20480u + 4096u);  // whole pages
  EXPECT_EQ(frame[0], 0);
  EXPECT_EQ(frame[16393], 0);
  EXPECT_EQ(zero[4095], 0);
  EXPECT_EQ(std::string(kept, 8192), std::string(8192, 'k'));
  EXPECT_EQ(std::string(small, 100), std::string(100, 's'));
  // realloc keeps the contents across the two kinds of block.
  small = static_cast<char*>(mem->realloc(small, 6000, mem->mem_user_data));
  EXPECT_EQ(std::string(small, 100), std::string(100, 's'));
  kept = static_cast<char*>(mem->realloc(kept, 200, mem->mem_user_data));
  EXPECT_EQ(std::string(kept, 200), std::string(200, 'k'));
  for (char* p : {frame, zero, kept, small}) {
    mem->free(p, mem->mem_user_data);
  }
  EXPECT_EQ(m.release_idle(), 0u);  // nothing left to drop
}

}  // namespace
}  // namespace valk::net
