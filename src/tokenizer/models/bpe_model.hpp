#pragma once
// Rank-based byte-pair encoding (Hugging Face's BPE model): a word starts as its characters' tokens, and the
// adjacent pair with the lowest merge rank is merged, again and again, until no pair has a merge. For byte-level
// BPE (GPT-2) the words arrive already spelled in byte-level characters, so every character is a token.
//
// The merge loop keeps the symbols in a linked list and the candidate pairs in a min-heap (rank, then position),
// so a word of n characters costs O(n log n), not O(n^2): a megabyte without spaces is still fast. Words up to
// WordCache::kMaxWordBytes are cached.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tokenizer/models/model.hpp"
#include "tokenizer/models/vocabulary.hpp"
#include "tokenizer/models/word_cache.hpp"

namespace arrakis::tok {

struct BpeOptions {
  /// The token for characters with no token of their own; without one such characters are dropped (as Hugging
  /// Face does).
  std::optional<std::string> unk_token;
  /// Consecutive unknown characters become one unk token.
  bool fuse_unk = false;
  /// Characters with no token become their UTF-8 bytes' "<0xXX>" tokens (SentencePiece-style vocabularies).
  bool byte_fallback = false;
  /// A word that is itself in the vocabulary is that token, whatever the merges would give (Llama 3).
  bool ignore_merges = false;
  /// Spelling of non-initial characters ("##") and of the final one ("</w>"), for vocabularies trained that way.
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
};

/// One line of merges.txt: the two tokens merged, in rank order.
using MergeRule = std::pair<std::string, std::string>;

class BpeModel final : public Model {
 public:
  /// `source` names the file in error messages (e.g. a merge naming a token that is not in the vocabulary).
  BpeModel(Vocabulary vocabulary, const std::vector<MergeRule>& merges, BpeOptions options, const std::string& source);

  void encode_word(std::string_view word, std::vector<std::int64_t>& ids) const override;
  std::optional<std::int64_t> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  const std::string* id_to_token(std::int64_t id) const override { return vocab_.token(id); }
  std::int64_t id_end() const override { return vocab_.id_end(); }
  std::string_view name() const override { return "BPE"; }

 private:
  struct MergeResult {
    std::uint32_t rank;
    std::int32_t id;
  };
  static std::uint64_t pair_key(std::int64_t left, std::int64_t right) noexcept {
    return (static_cast<std::uint64_t>(left) << 32) | static_cast<std::uint32_t>(right);
  }

  static std::uint64_t edge_key(char32_t last, char32_t first) noexcept {
    return (static_cast<std::uint64_t>(last) << 32) | first;
  }

  /// The initial symbols of `word` (one per character, or its byte-fallback tokens, or unk), and for each the byte
  /// where its character starts (-1 for byte-fallback and unk symbols). False when they are not in the text's order.
  bool initial_symbols(std::string_view word, std::vector<std::int64_t>& symbols,
                       std::vector<std::int32_t>& starts) const;
  void encode_segments(std::string_view word, const std::vector<std::int64_t>& symbols,
                       const std::vector<std::int32_t>& starts, std::vector<std::int64_t>& ids) const;
  /// The vocabulary spelling of the character word[begin, end): with the continuing-subword prefix when it is not
  /// first, the end-of-word suffix when it is last (in `buffer` when either applies).
  std::string_view char_spelling(std::string_view word, std::size_t begin, std::size_t end, std::string& buffer) const;
  std::optional<std::int64_t> char_token(std::string_view spelling) const;
  /// Merges `symbols` in place as far as the merges allow.
  void merge(std::vector<std::int64_t>& symbols) const;

  Vocabulary vocab_;
  std::unordered_map<std::uint64_t, MergeResult> merges_;
  BpeOptions options_;
  std::string source_;
  std::optional<std::int64_t> unk_id_;
  std::array<std::int32_t, 256> byte_fallback_ids_{};  // -1: no "<0xXX>" token
  // Ids of single-character tokens below U+0800 (all of byte-level BPE's alphabet), -1 when absent: the first
  // step of every uncached word without hashing.
  std::vector<std::int32_t> small_char_ids_;
  // First and last character of each token, and the (last of left, first of right) pairs of all merges: where a
  // word can be cut (see encode_segments). Empty with a continuing-subword prefix or end-of-word suffix.
  std::vector<char32_t> first_char_, last_char_;
  std::unordered_set<std::uint64_t> joinable_;
  mutable WordCache cache_;
};

}  // namespace arrakis::tok
