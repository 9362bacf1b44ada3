#pragma once
// Remembers the ids of words already encoded. Natural text repeats a small set of words, so after warm-up nearly
// every word is one hash lookup instead of a BPE merge loop. Shared between threads (encode is const and may run
// concurrently), so lookups take a shared lock; once full it stops growing rather than evicting (cheap and
// predictable; the common words arrive first).
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string_view>
#include <vector>

#include "tokenizer/string_map.hpp"

namespace arrakis::tok {

class WordCache {
 public:
  static constexpr std::size_t kDefaultCapacity = 1 << 16;  // a few MB at most
  /// Longer words are not cached: they are rare, and their keys would dominate the memory.
  static constexpr std::size_t kMaxWordBytes = 256;

  explicit WordCache(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  /// Appends the cached ids of `word` to `ids` and returns true, or returns false.
  bool lookup(std::string_view word, std::vector<std::int64_t>& ids) const {
    std::shared_lock lock(mutex_);
    const auto it = map_.find(word);
    if (it == map_.end()) return false;
    ids.insert(ids.end(), it->second.begin(), it->second.end());
    return true;
  }

  void insert(std::string_view word, std::span<const std::int64_t> ids) {
    if (word.size() > kMaxWordBytes) return;
    std::unique_lock lock(mutex_);
    if (map_.size() >= capacity_) return;
    map_.try_emplace(std::string(word), ids.begin(), ids.end());
  }

 private:
  mutable std::shared_mutex mutex_;
  StringMap<std::vector<std::int32_t>> map_;
  std::size_t capacity_;
};

}  // namespace arrakis::tok
