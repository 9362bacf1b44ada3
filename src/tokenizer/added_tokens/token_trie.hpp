#pragma once
// Finds a set of strings in text, leftmost match first and the longest of those starting there (the
// "leftmost-longest" rule Hugging Face's added tokens use). A byte trie: a few hundred added tokens of a few bytes
// each, and most text positions are rejected by a first-byte table without entering the trie.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace arrakis::tok {

class TokenTrie {
 public:
  struct Match {
    std::size_t begin, end;
    std::size_t value;
  };

  /// Adds `pattern` (non-empty) with `value`; a pattern added twice keeps the later value.
  void add(std::string_view pattern, std::size_t value);
  bool empty() const noexcept { return nodes_.size() <= 1; }

  /// The leftmost-longest match starting at or after `from`.
  std::optional<Match> find(std::string_view text, std::size_t from) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, std::uint32_t>> children;  // sorted by byte
    std::optional<std::size_t> value;                               // set where a pattern ends
  };
  std::optional<std::uint32_t> child(std::uint32_t node, unsigned char byte) const;

  std::vector<Node> nodes_{Node{}};
  std::array<bool, 256> first_byte_{};
};

}  // namespace arrakis::tok
