#pragma once
// Merging adjacent symbols pair by pair, the best pair first (the leftmost on ties), in O(n log n): the candidate
// pairs wait in a heap and a popped pair is skipped when either side has changed since it was pushed. BPE merges by
// rank and llama2.c's tokenizer by score are both this loop with a different `find`.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace arrakis::tok {

/// What `find(left_id, right_id)` returns for a pair that merges: lower `priority` merges first.
template <class Priority>
struct PairMerge {
  Priority priority;
  std::int32_t merged_id;
};

/// Per-thread scratch vectors keep their capacity between words, but not the megabytes of a rare huge word.
template <class T>
void release_if_large(std::vector<T>& scratch) {
  constexpr std::size_t kKeep = 1 << 14;
  if (scratch.capacity() > kKeep) std::vector<T>().swap(scratch);
}

/// Rewrites `ids` by merging pairs until no adjacent pair has a merge. `find` returns
/// std::optional<PairMerge<Priority>>.
template <class Priority, class Find>
void merge_adjacent_pairs(std::vector<std::int64_t>& ids, const Find& find) {
  struct Symbol {
    std::int32_t id;  // -1 once merged into its left neighbour
    std::int32_t prev, next;
  };
  struct Candidate {
    Priority priority;
    std::int32_t left_pos, left_id, right_id, merged_id;
  };
  const auto later = [](const Candidate& a, const Candidate& b) {
    return a.priority != b.priority ? b.priority < a.priority : a.left_pos > b.left_pos;
  };
  if (ids.size() < 2) return;
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;
  const auto n = static_cast<std::int32_t>(ids.size());
  symbols.resize(ids.size());
  heap.clear();
  for (std::int32_t i = 0; i < n; ++i) symbols[i] = {static_cast<std::int32_t>(ids[i]), i - 1, i + 1 < n ? i + 1 : -1};

  const auto push_candidate = [&](std::int32_t left_pos) {
    const Symbol& left = symbols[left_pos];
    if (left.next < 0) return;
    const std::int32_t right_id = symbols[left.next].id;
    const std::optional<PairMerge<Priority>> merge = find(left.id, right_id);
    if (!merge) return;
    heap.push_back({merge->priority, left_pos, left.id, right_id, merge->merged_id});
    std::push_heap(heap.begin(), heap.end(), later);
  };

  for (std::int32_t i = 0; i + 1 < n; ++i) push_candidate(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[top.left_pos];
    if (left.id != top.left_id || left.next < 0 || symbols[left.next].id != top.right_id) continue;  // stale
    Symbol& right = symbols[left.next];
    left.id = top.merged_id;
    right.id = -1;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.left_pos;
    if (left.prev >= 0) push_candidate(left.prev);
    push_candidate(top.left_pos);
  }

  ids.clear();
  for (std::int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);  // symbol 0 is never merged away
  release_if_large(symbols);
  release_if_large(heap);
}

}  // namespace arrakis::tok
