#include "lisp/shared_store.h"

#include <chrono>
#include <functional>

namespace valk::lisp {

namespace {

uint64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool expired(uint64_t expires_ms, uint64_t now) {
  return expires_ms != 0 && now >= expires_ms;
}

}  // namespace

SharedStore& SharedStore::process() {
  static SharedStore store;
  return store;
}

SharedStore::Shard& SharedStore::shard_of(std::string_view key) {
  return shards_[std::hash<std::string_view>()(key) % kShards];
}

void SharedStore::account(int64_t entries, int64_t bytes) {
  entries_.fetch_add(entries, std::memory_order_relaxed);
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
}

bool SharedStore::drop_if_expired(Shard& s, Map::iterator it, uint64_t now) {
  if (!expired(it->second.expires_ms, now)) {
    return false;
  }
  account(-1, -static_cast<int64_t>(it->first.size() + it->second.value.size()));
  s.map.erase(it);
  return true;
}

void SharedStore::wrote(Shard& s, uint64_t now) {
  if (++s.writes < kSweepEvery) {
    return;
  }
  s.writes = 0;
  for (auto it = s.map.begin(); it != s.map.end();) {
    auto next = std::next(it);
    drop_if_expired(s, it, now);
    it = next;
  }
}

std::optional<SharedStore::Found> SharedStore::get(std::string_view key) {
  std::optional<Found> found;
  read(key, [&](std::string_view value, uint64_t version) {
    found = Found{std::string(value), version};
  });
  return found;
}

bool SharedStore::read(std::string_view key,
                       const std::function<void(std::string_view value, uint64_t version)>& fn) {
  Shard& s = shard_of(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end() || drop_if_expired(s, it, now_ms())) {
    return false;
  }
  fn(it->second.value, it->second.version);
  return true;
}

SharedStore::Put SharedStore::update(
    std::string_view key, uint64_t ttl_ms,
    const std::function<bool(std::optional<std::string_view> value, std::string* out)>& fn) {
  Shard& s = shard_of(key);
  uint64_t now = now_ms();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  if (it != s.map.end() && drop_if_expired(s, it, now)) {
    it = s.map.end();
  }
  bool added = it == s.map.end();
  std::string value;
  if (!fn(added ? std::nullopt : std::optional<std::string_view>(it->second.value), &value)) {
    return Put::kUnchanged;
  }
  int64_t growth =
      static_cast<int64_t>(value.size()) +
      (added ? static_cast<int64_t>(key.size()) : -static_cast<int64_t>(it->second.value.size()));
  if (!fits(growth)) {
    return Put::kFull;
  }
  uint64_t version = next_version_.fetch_add(1, std::memory_order_relaxed);
  account(added ? 1 : 0, growth);
  if (added) {
    s.map.emplace(std::string(key),
                  Entry{std::move(value), version, ttl_ms == 0 ? 0 : now + ttl_ms});
  } else {
    it->second.value = std::move(value);
    it->second.version = version;
  }
  wrote(s, now);
  return Put::kStored;
}

bool SharedStore::fits(int64_t growth) const {
  uint64_t max = max_bytes();
  return max == 0 || growth <= 0 ||
         bytes_.load(std::memory_order_relaxed) + growth <= static_cast<int64_t>(max);
}

SharedStore::Put SharedStore::put(std::string_view key, std::string value, uint64_t ttl_ms) {
  Shard& s = shard_of(key);
  uint64_t now = now_ms();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  bool added = it == s.map.end();
  int64_t growth =
      static_cast<int64_t>(value.size()) +
      (added ? static_cast<int64_t>(key.size()) : -static_cast<int64_t>(it->second.value.size()));
  if (!fits(growth)) {
    return Put::kFull;
  }
  if (added) {
    it = s.map.emplace(std::string(key), Entry{}).first;
  }
  account(added ? 1 : 0, growth);
  uint64_t version = next_version_.fetch_add(1, std::memory_order_relaxed);
  it->second = Entry{std::move(value), version, ttl_ms == 0 ? 0 : now + ttl_ms};
  wrote(s, now);
  return Put::kStored;
}

SharedStore::Put SharedStore::compare_and_put(std::string_view key, uint64_t version,
                                              std::optional<std::string> value, uint64_t ttl_ms) {
  Shard& s = shard_of(key);
  uint64_t now = now_ms();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  if (it != s.map.end() && drop_if_expired(s, it, now)) {
    it = s.map.end();
  }
  uint64_t current = it == s.map.end() ? 0 : it->second.version;
  if (current != version) {
    return Put::kConflict;
  }
  if (!value) {
    if (it != s.map.end()) {
      account(-1, -static_cast<int64_t>(it->first.size() + it->second.value.size()));
      s.map.erase(it);
    }
    return Put::kStored;
  }
  int64_t growth = static_cast<int64_t>(value->size()) +
                   (it == s.map.end() ? static_cast<int64_t>(key.size())
                                      : -static_cast<int64_t>(it->second.value.size()));
  if (!fits(growth)) {
    return Put::kFull;
  }
  uint64_t fresh = next_version_.fetch_add(1, std::memory_order_relaxed);
  if (it == s.map.end()) {
    account(1, static_cast<int64_t>(key.size() + value->size()));
    s.map.emplace(std::string(key),
                  Entry{std::move(*value), fresh, ttl_ms == 0 ? 0 : now + ttl_ms});
  } else {
    account(0, static_cast<int64_t>(value->size()) - static_cast<int64_t>(it->second.value.size()));
    it->second.value = std::move(*value);
    it->second.version = fresh;
  }
  wrote(s, now);
  return Put::kStored;
}

bool SharedStore::erase(std::string_view key) {
  Shard& s = shard_of(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    return false;
  }
  bool live = !drop_if_expired(s, it, now_ms());
  if (live) {
    account(-1, -static_cast<int64_t>(it->first.size() + it->second.value.size()));
    s.map.erase(it);
  }
  return live;
}

void SharedStore::each(
    const std::function<void(std::string_view key, std::string_view value)>& fn) {
  uint64_t now = now_ms();
  for (Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    for (const auto& [key, entry] : s.map) {
      if (!expired(entry.expires_ms, now)) {
        fn(key, entry.value);
      }
    }
  }
}

void SharedStore::clear() {
  for (Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    for (const auto& [key, entry] : s.map) {
      account(-1, -static_cast<int64_t>(key.size() + entry.value.size()));
    }
    s.map.clear();
  }
}

SharedStore::Stats SharedStore::stats() const {
  return Stats{static_cast<uint64_t>(entries_.load(std::memory_order_relaxed)),
               static_cast<uint64_t>(bytes_.load(std::memory_order_relaxed))};
}

}  // namespace valk::lisp
