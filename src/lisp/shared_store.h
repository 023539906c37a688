// The process's shared store: entries that every isolate (every worker of
// valk serve) reads and writes, where an atom would be one worker's own.
// Values are kept encoded (value_codec.h) and decoded into the reader's
// heap, so no Lisp object is shared between threads. Thread-safe: the
// entries are spread over shards, each under its own mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace valk::lisp {

class SharedStore {
 public:
  // The one every isolate of the process uses.
  static SharedStore& process();

  struct Found {
    std::string value;  // encoded
    uint64_t version = 0;
  };
  // The entry at `key`, unless absent or expired.
  std::optional<Found> get(std::string_view key);
  // Calls `fn` with the entry's encoded value and version, under its
  // shard's lock (so the value is read in place, not copied); false, not
  // calling it, if the entry is absent or expired. `fn` must not call the
  // store (its shard's lock is held).
  bool read(std::string_view key,
            const std::function<void(std::string_view value, uint64_t version)>& fn);
  enum class Put {
    kStored,
    kConflict,   // compare_and_put: another write came first
    kUnchanged,  // update: `fn` left the entry as it was
    kFull,       // the store would hold more than its limit
  };
  // Sets the entry; ttl_ms 0: it never expires. kFull (and nothing
  // changed) if the store would hold more than its limit.
  Put put(std::string_view key, std::string value, uint64_t ttl_ms);
  // Sets the entry (or, with no value, removes it) if its version is still
  // `version` (0: it was absent), keeping its expiry, or giving a new
  // entry `ttl_ms` (0: none). kConflict if another write came first.
  Put compare_and_put(std::string_view key, uint64_t version, std::optional<std::string> value,
                      uint64_t ttl_ms = 0);
  // Reads and replaces the entry in one step, under its shard's lock: `fn`
  // gets the value (nullopt if absent or expired) and writes the new one
  // into *out, or returns false to leave it. A new entry gets `ttl_ms` (0:
  // none); a replaced one keeps its expiry. `fn` must not call the store.
  Put update(
      std::string_view key, uint64_t ttl_ms,
      const std::function<bool(std::optional<std::string_view> value, std::string* out)>& fn);
  // Removes the entry; false if there was none.
  bool erase(std::string_view key);
  // Calls `fn` with each live entry's key and encoded value.
  void each(const std::function<void(std::string_view key, std::string_view value)>& fn);
  // Removes every entry (for tests and the REPL).
  void clear();

  struct Stats {
    uint64_t entries = 0;
    uint64_t bytes = 0;  // of keys and values
  };
  Stats stats() const;
  // The most bytes (of keys and values) the store holds; a write that
  // would go past it is refused. 0: no limit (the default).
  void set_max_bytes(uint64_t n) { max_bytes_.store(n, std::memory_order_relaxed); }
  uint64_t max_bytes() const { return max_bytes_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::string value;
    uint64_t version;
    uint64_t expires_ms;  // 0: never
  };
  // Finds a key by a view of it, without making a string.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using Map = std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>>;
  struct Shard {
    std::mutex mu;
    Map map;
    uint32_t writes = 0;  // since the last sweep of expired entries
  };
  static constexpr size_t kShards = 16;
  // Removes expired entries every this many writes to a shard, so that
  // keys nobody reads again do not pile up.
  static constexpr uint32_t kSweepEvery = 1024;

  Shard& shard_of(std::string_view key);
  // Under the shard's lock: removes `it` if expired; true if it did.
  bool drop_if_expired(Shard& s, Map::iterator it, uint64_t now);
  void wrote(Shard& s, uint64_t now);
  void account(int64_t entries, int64_t bytes);
  // Whether `growth` more bytes fit under the limit (approximately, as
  // other shards write at the same time).
  bool fits(int64_t growth) const;

  Shard shards_[kShards];
  std::atomic<uint64_t> next_version_{1};
  std::atomic<int64_t> entries_{0};
  std::atomic<int64_t> bytes_{0};
  std::atomic<uint64_t> max_bytes_{0};
};

}  // namespace valk::lisp
