#include "tokenizer/models/bpe_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <span>

#include "arrakis/error.hpp"
#include "tokenizer/models/pair_merging.hpp"
#include "tokenizer/utf8.hpp"

namespace arrakis::tok {

namespace {

constexpr char32_t kSmallCharEnd = 0x800;  // characters of at most 2 UTF-8 bytes

}  // namespace

BpeModel::BpeModel(Vocabulary vocabulary, const std::vector<MergeRule>& merges, BpeOptions options,
                   const std::string& source)
    : vocab_(std::move(vocabulary)), options_(std::move(options)), source_(source) {
  if (vocab_.id_end() > std::int64_t{INT32_MAX}) throw Error(fmt::format("{}: token ids must be below 2^31", source_));
  merges_.reserve(merges.size());
  const std::string& prefix = options_.continuing_subword_prefix;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    // Named members, not a structured binding: lambdas may not capture bindings before C++20's P1091 (clang 14).
    const std::string& left = merges[rank].first;
    const std::string& right = merges[rank].second;
    const auto fail = [&](std::string_view what) {
      throw Error(fmt::format("{}: merge {} (\"{} {}\"): {}", source_, rank + 1, left, right, what));
    };
    const auto left_id = vocab_.find(left);
    if (!left_id) fail(fmt::format("\"{}\" is not in the vocabulary", left));
    const auto right_id = vocab_.find(right);
    if (!right_id) fail(fmt::format("\"{}\" is not in the vocabulary", right));
    // With a continuing-subword prefix the right side is spelled "##b" but the merged token is "ab".
    const std::string_view right_text =
        !prefix.empty() && right.starts_with(prefix) ? std::string_view(right).substr(prefix.size()) : right;
    std::string merged = left;
    merged += right_text;
    const auto merged_id = vocab_.find(merged);
    if (!merged_id) fail(fmt::format("the merged token \"{}\" is not in the vocabulary", merged));
    // A pair listed twice keeps its later rank, as both Hugging Face and OpenAI's encoder do.
    merges_.insert_or_assign(pair_key(*left_id, *right_id),
                             MergeResult{static_cast<std::uint32_t>(rank), static_cast<std::int32_t>(*merged_id)});
  }

  if (options_.unk_token) unk_id_ = vocab_.find(*options_.unk_token);

  byte_fallback_ids_.fill(-1);
  if (options_.byte_fallback)
    for (unsigned b = 0; b < 256; ++b)
      if (const auto id = vocab_.find(fmt::format("<0x{:02X}>", b)))
        byte_fallback_ids_[b] = static_cast<std::int32_t>(*id);

  if (options_.continuing_subword_prefix.empty() && options_.end_of_word_suffix.empty()) {
    small_char_ids_.assign(kSmallCharEnd, -1);
    std::string spelling;
    for (char32_t c = 0; c < kSmallCharEnd; ++c) {
      spelling.clear();
      append_utf8(spelling, c);
      if (const auto id = vocab_.find(spelling)) small_char_ids_[c] = static_cast<std::int32_t>(*id);
    }
    // A merge joins a symbol ending in character x to one starting with y only if some merge's left token ends in
    // x and its right token starts with y: record those pairs, so that a word can be cut where none applies.
    const auto n = static_cast<std::size_t>(vocab_.id_end());
    first_char_.assign(n, 0);
    last_char_.assign(n, 0);
    for (std::size_t id = 0; id < n; ++id)
      if (const std::string* token = vocab_.token(static_cast<std::int64_t>(id)); token && !token->empty()) {
        first_char_[id] = utf8_step(*token, 0).code_point;
        last_char_[id] = utf8_step(*token, utf8_previous(*token, token->size())).code_point;
      }
    joinable_.reserve(merges_.size());
    for (const auto& [key, result] : merges_)
      joinable_.insert(edge_key(last_char_[key >> 32], first_char_[key & 0xFFFFFFFFu]));
  }
}

std::string_view BpeModel::char_spelling(std::string_view word, std::size_t begin, std::size_t end,
                                         std::string& buffer) const {
  const std::string_view ch = word.substr(begin, end - begin);
  const bool prefixed = begin > 0 && !options_.continuing_subword_prefix.empty();
  const bool suffixed = end == word.size() && !options_.end_of_word_suffix.empty();
  if (!prefixed && !suffixed) return ch;
  buffer.clear();
  if (prefixed) buffer += options_.continuing_subword_prefix;
  buffer += ch;
  if (suffixed) buffer += options_.end_of_word_suffix;
  return buffer;
}

std::optional<std::int64_t> BpeModel::char_token(std::string_view spelling) const {
  // Fast path: characters below U+0800 by table (only built when no prefix or suffix respells them).
  if (!small_char_ids_.empty() && spelling.size() <= 2) {
    const Utf8Step step = utf8_step(spelling, 0);
    if (step.valid && step.length == spelling.size()) {
      const std::int32_t id = small_char_ids_[step.code_point];
      return id >= 0 ? std::optional<std::int64_t>(id) : std::nullopt;
    }
  }
  return vocab_.find(spelling);
}

bool BpeModel::initial_symbols(std::string_view word, std::vector<std::int64_t>& symbols,
                               std::vector<std::int32_t>& starts) const {
  std::optional<std::int64_t> pending_unk;  // held back so that consecutive unknowns can fuse
  bool in_order = true;
  const auto push = [&](std::int64_t id, std::int32_t start) {
    symbols.push_back(id);
    starts.push_back(start);
  };
  std::string buffer;
  const auto has_byte_tokens = [&](std::string_view bytes) {
    return std::all_of(bytes.begin(), bytes.end(),
                       [&](char b) { return byte_fallback_ids_[static_cast<unsigned char>(b)] >= 0; });
  };
  for (std::size_t i = 0; i < word.size();) {
    // An invalid UTF-8 run counts as one character (it only reaches a model that is not byte-level).
    const std::size_t end = i + utf8_step(word, i).length;
    const std::string_view spelling = char_spelling(word, i, end, buffer);
    if (const auto id = char_token(spelling)) {
      if (pending_unk) push(*std::exchange(pending_unk, std::nullopt), -1);
      push(*id, static_cast<std::int32_t>(i));
    } else if (options_.byte_fallback && has_byte_tokens(spelling)) {
      // As Hugging Face: the bytes of the character as spelled, and a pending unk is not flushed before them (so
      // it lands after them, out of the text's order).
      if (pending_unk) in_order = false;
      for (const char b : spelling) push(byte_fallback_ids_[static_cast<unsigned char>(b)], -1);
    } else if (options_.unk_token) {
      if (!unk_id_)
        throw Error(
            fmt::format("{}: the text has a character with no token ({}) and the unk_token \"{}\" is not in "
                        "the vocabulary",
                        source_, code_point_name(utf8_step(word, i).code_point), *options_.unk_token));
      if (pending_unk && !options_.fuse_unk) push(*pending_unk, -1);
      pending_unk = unk_id_;
    }
    // else: no token and no unk: the character is dropped, as Hugging Face's BPE does.
    i = end;
  }
  if (pending_unk) push(*pending_unk, -1);
  return in_order;
}

void BpeModel::merge(std::vector<std::int64_t>& ids) const {
  if (merges_.empty()) return;
  // Lowest rank first; on equal ranks the leftmost (the order Hugging Face and OpenAI merge in).
  merge_adjacent_pairs<std::uint32_t>(ids, [&](std::int32_t left, std::int32_t right) {
    const auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? std::nullopt
                               : std::optional<PairMerge<std::uint32_t>>({it->second.rank, it->second.id});
  });
}

void BpeModel::encode_word(std::string_view word, std::vector<std::int64_t>& ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges)
    if (const auto id = vocab_.find(word)) {
      ids.push_back(*id);
      return;
    }
  if (cache_.lookup(word, ids)) return;
  thread_local std::vector<std::int64_t> symbols;
  thread_local std::vector<std::int32_t> starts;
  symbols.clear();
  starts.clear();
  const bool in_order = initial_symbols(word, symbols, starts);
  const std::size_t first = ids.size();
  if (in_order && !joinable_.empty())
    encode_segments(word, symbols, starts, ids);
  else {
    merge(symbols);
    ids.insert(ids.end(), symbols.begin(), symbols.end());
  }
  cache_.insert(word, std::span<const std::int64_t>(ids).subspan(first));
  release_if_large(symbols);
  release_if_large(starts);
}

// Cuts the word before each symbol that no merge can join to the one before it: the merges inside each segment are
// then exactly those of the whole word, so each segment is merged (and cached) on its own. SentencePiece-style
// pipelines hand the whole text over as one word, and their segments are its words ("▁Hello").
void BpeModel::encode_segments(std::string_view word, const std::vector<std::int64_t>& symbols,
                               const std::vector<std::int32_t>& starts, std::vector<std::int64_t>& ids) const {
  thread_local std::vector<std::int64_t> segment;
  const std::size_t n = symbols.size();
  std::size_t begin = 0;
  for (std::size_t k = 1; k <= n; ++k) {
    if (k < n && (starts[k] < 0 || joinable_.contains(edge_key(last_char_[symbols[k - 1]], first_char_[symbols[k]]))))
      continue;
    segment.assign(symbols.begin() + static_cast<std::ptrdiff_t>(begin),
                   symbols.begin() + static_cast<std::ptrdiff_t>(k));
    if (begin == 0 && k == n) {  // one segment: the caller caches the word
      merge(segment);
      ids.insert(ids.end(), segment.begin(), segment.end());
      break;
    }
    const std::size_t text_begin = begin == 0 ? 0 : static_cast<std::size_t>(starts[begin]);
    const std::size_t text_end = k == n ? word.size() : static_cast<std::size_t>(starts[k]);
    const std::string_view text = word.substr(text_begin, text_end - text_begin);
    if (!cache_.lookup(text, ids)) {
      merge(segment);
      cache_.insert(text, segment);
      ids.insert(ids.end(), segment.begin(), segment.end());
    }
    begin = k;
  }
  release_if_large(segment);
}

}  // namespace arrakis::tok
