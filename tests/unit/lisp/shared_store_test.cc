// The shared store across threads: isolates on threads of their own (as
// valk serve's workers are) update the same entries at once and lose no
// update; its figures follow what it holds.
#include "lisp/shared_store.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "lisp/isolate.h"
#include "lisp/printer.h"

namespace valk::lisp {
namespace {

using Put = SharedStore::Put;

std::string eval(Isolate& iso, const std::string& src) {
  EvalResult r = iso.eval_string(src, "test.lisp");
  return r.ok ? print_str(r.value, true) : "ERROR " + iso.describe(r.value);
}

TEST(SharedStore, IsolatesOnThreadsLoseNoUpdate) {
  Isolate main;
  eval(main, "(store/clear!)");
  constexpr int kThreads = 4, kRounds = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([t] {
      Isolate iso;
      std::string src = "(dotimes [i " + std::to_string(kRounds) +
                        "]"
                        "  (store/incr! :hits)"
                        "  (store/swap! :seen (fnil conj []) [" +
                        std::to_string(t) +
                        " i])"
                        "  (store/swap! :sum (fnil + 0) i))";
      EXPECT_EQ(eval(iso, src), "nil");
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(eval(main, "(store/get :hits)"), std::to_string(kThreads * kRounds));
  EXPECT_EQ(eval(main, "(count (set (store/get :seen)))"), std::to_string(kThreads * kRounds));
  EXPECT_EQ(eval(main, "(store/get :sum)"), std::to_string(kThreads * kRounds * (kRounds - 1) / 2));
}

TEST(SharedStore, FiguresFollowWhatItHolds) {
  SharedStore& s = SharedStore::process();
  s.clear();
  EXPECT_EQ(s.stats().entries, 0u);
  EXPECT_EQ(s.stats().bytes, 0u);
  s.put("a", "12345", 0);
  s.put("bb", "1", 0);
  EXPECT_EQ(s.stats().entries, 2u);
  EXPECT_EQ(s.stats().bytes, 1u + 5 + 2 + 1);
  s.put("a", "1", 0);  // replaced
  EXPECT_EQ(s.stats().bytes, 1u + 1 + 2 + 1);
  ASSERT_TRUE(s.get("a").has_value());
  uint64_t version = s.get("a")->version;
  EXPECT_EQ(s.compare_and_put("a", version + 1, "x"), Put::kConflict);
  EXPECT_EQ(s.compare_and_put("a", version, "xyz"), Put::kStored);
  EXPECT_EQ(s.stats().bytes, 1u + 3 + 2 + 1);
  EXPECT_EQ(s.compare_and_put("a", version, "again"), Put::kConflict) << "the version moved on";
  EXPECT_EQ(s.compare_and_put("c", 0, "new"), Put::kStored);
  EXPECT_EQ(s.compare_and_put("d", 5, "absent has version 0"), Put::kConflict);
  EXPECT_EQ(s.compare_and_put("c", s.get("c")->version, std::nullopt), Put::kStored);
  EXPECT_FALSE(s.get("c").has_value());
  EXPECT_TRUE(s.erase("bb"));
  EXPECT_FALSE(s.erase("bb"));
  EXPECT_EQ(s.stats().entries, 1u);
  EXPECT_EQ(s.stats().bytes, 1u + 3);
  s.clear();
  EXPECT_EQ(s.stats().entries, 0u);
  EXPECT_EQ(s.stats().bytes, 0u);
}

TEST(SharedStore, AWritePastTheLimitIsRefusedAndChangesNothing) {
  SharedStore& s = SharedStore::process();
  s.clear();
  s.set_max_bytes(100);
  EXPECT_EQ(s.put("a", std::string(60, 'x'), 0), Put::kStored);  // 61 bytes
  EXPECT_EQ(s.put("b", std::string(40, 'x'), 0), Put::kFull);    // 102
  EXPECT_FALSE(s.get("b").has_value());
  EXPECT_EQ(s.put("b", std::string(38, 'x'), 0), Put::kStored);  // 100: fits
  EXPECT_EQ(s.put("a", std::string(61, 'x'), 0), Put::kFull);    // grows past it
  EXPECT_EQ(s.get("a")->value.size(), 60u) << "unchanged";
  EXPECT_EQ(s.put("a", std::string(10, 'x'), 0), Put::kStored);  // shrinks: always
  EXPECT_EQ(s.compare_and_put("c", 0, std::string(60, 'x')), Put::kFull);
  EXPECT_EQ(s.compare_and_put("c", 0, std::string(40, 'x')), Put::kStored);
  EXPECT_EQ(s.stats().bytes, 11u + 39 + 41);
  Isolate iso;
  std::string e = eval(iso, "(store/put! :big (apply str (repeat 100 \"x\")))");
  EXPECT_NE(e.find("store/put!: the shared store is full (91 bytes of 100: :store-max-bytes)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(":store-full"), std::string::npos) << e;
  s.set_max_bytes(0);
  s.clear();
}

TEST(SharedStore, ExpiredEntriesAreSweptWithoutBeingRead) {
  SharedStore& s = SharedStore::process();
  s.clear();
  for (int i = 0; i < 2000; i++) {
    s.put("gone" + std::to_string(i), "v", 1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Writes to other keys of each shard sweep it now and then (a shard
  // that nobody writes to does not grow).
  for (int i = 0; i < 40000; i++) {
    s.put("kept" + std::to_string(i % 1000), "v", 0);
  }
  EXPECT_EQ(s.stats().entries, 1000u);
  s.clear();
}

}  // namespace
}  // namespace valk::lisp
