#include "tokenizer/added_tokens/token_trie.hpp"

#include <algorithm>

namespace arrakis::tok {

std::optional<std::uint32_t> TokenTrie::child(std::uint32_t node, unsigned char byte) const {
  const auto& children = nodes_[node].children;
  const auto it = std::lower_bound(children.begin(), children.end(), byte,
                                   [](const auto& entry, unsigned char b) { return entry.first < b; });
  if (it == children.end() || it->first != byte) return std::nullopt;
  return it->second;
}

void TokenTrie::add(std::string_view pattern, std::size_t value) {
  if (pattern.empty()) return;
  first_byte_[static_cast<unsigned char>(pattern.front())] = true;
  std::uint32_t node = 0;
  for (const char ch : pattern) {
    const auto byte = static_cast<unsigned char>(ch);
    if (const auto next = child(node, byte)) {
      node = *next;
      continue;
    }
    const auto next = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();
    auto& children = nodes_[node].children;
    children.insert(std::lower_bound(children.begin(), children.end(), byte,
                                     [](const auto& entry, unsigned char b) { return entry.first < b; }),
                    {byte, next});
    node = next;
  }
  nodes_[node].value = value;
}

std::optional<TokenTrie::Match> TokenTrie::find(std::string_view text, std::size_t from) const {
  for (std::size_t begin = from; begin < text.size(); ++begin) {
    if (!first_byte_[static_cast<unsigned char>(text[begin])]) continue;
    std::optional<Match> longest;
    std::uint32_t node = 0;
    for (std::size_t i = begin; i < text.size(); ++i) {
      const auto next = child(node, static_cast<unsigned char>(text[i]));
      if (!next) break;
      node = *next;
      if (nodes_[node].value) longest = Match{begin, i + 1, *nodes_[node].value};
    }
    if (longest) return longest;
  }
  return std::nullopt;
}

}  // namespace arrakis::tok
