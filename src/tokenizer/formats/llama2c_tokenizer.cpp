#include "tokenizer/formats/llama2c_tokenizer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <variant>

#include "arrakis/error.hpp"
#include "tokenizer/models/pair_merging.hpp"
#include "tokenizer/string_map.hpp"
#include "tokenizer/utf8.hpp"
#include "util/read_file.hpp"

namespace arrakis::tok {

namespace {

constexpr std::int64_t kUnk = 0, kBos = 1, kEos = 2;
constexpr std::int64_t kFirstByteToken = 3;  // run.c: the token of byte b is b + 3
constexpr std::array<std::string_view, 3> kSpecialSpellings = {"<unk>", "<s>", "</s>"};
// A real vocabulary file is a few MB at most; this keeps a large data file named tok*.bin from being read whole.
constexpr std::uintmax_t kMaxFileBytes = 64u << 20;
constexpr std::int32_t kMaxTokenLength = 1 << 16;
constexpr float kNoMerge = -1e10f;  // run.c's initial best score: pairs scoring no higher never merge

struct Vocabulary {
  std::vector<std::string> pieces;
  std::vector<float> scores;
};

template <class T>
T read_le(const std::string& bytes, std::size_t pos) {
  T value;
  std::memcpy(&value, bytes.data() + pos, sizeof value);  // llama2.c writes the machine's (little-endian) layout
  return value;
}

// The vocabulary, or what is wrong with the file.
std::variant<Vocabulary, std::string> parse(const std::filesystem::path& file) {
  std::error_code error;
  const std::uintmax_t size = std::filesystem::file_size(file, error);
  if (error) return fmt::format("cannot read its size: {}", error.message());
  if (size > kMaxFileBytes) return fmt::format("{} bytes is too large for a llama2.c tokenizer", size);
  const std::string bytes = read_text_file(file);
  if (bytes.size() < 4) return "shorter than its 4-byte header (max_token_length)";
  const auto max_length = read_le<std::int32_t>(bytes, 0);
  if (max_length < 1 || max_length > kMaxTokenLength)
    return fmt::format("header max_token_length {} is not a plausible token length", max_length);

  Vocabulary vocab;
  std::size_t pos = 4;
  while (pos < bytes.size()) {
    const std::size_t id = vocab.pieces.size();
    if (bytes.size() - pos < 8)
      return fmt::format("token {} at byte {}: the file ends inside its score and length", id, pos);
    const auto score = read_le<float>(bytes, pos);
    const auto length = read_le<std::int32_t>(bytes, pos + 4);
    if (!std::isfinite(score)) return fmt::format("token {} at byte {}: score is not a finite number", id, pos);
    if (length < 1 || length > max_length)
      return fmt::format("token {} at byte {}: length {} is outside 1..max_token_length ({})", id, pos, length,
                         max_length);
    pos += 8;
    if (bytes.size() - pos < static_cast<std::size_t>(length))
      return fmt::format("token {} at byte {}: the file ends inside its {} bytes", id, pos, length);
    vocab.pieces.emplace_back(bytes, pos, static_cast<std::size_t>(length));
    vocab.scores.push_back(score);
    pos += static_cast<std::size_t>(length);
  }
  // run.c turns a byte it has no token for into id byte + 3: the file must have those tokens there.
  const std::size_t needed = kFirstByteToken + 256;
  if (vocab.pieces.size() < needed)
    return fmt::format("{} tokens; llama2.c needs at least {} (unk, bos, eos, then the 256 byte tokens)",
                       vocab.pieces.size(), needed);
  for (unsigned b = 0; b < 256; ++b) {
    const std::string expected = fmt::format("<0x{:02X}>", b);
    if (vocab.pieces[kFirstByteToken + b] != expected)
      return fmt::format("token {} is \"{}\", not the byte token \"{}\" (llama2.c's byte b is token b + 3)",
                         kFirstByteToken + b, vocab.pieces[kFirstByteToken + b], expected);
  }
  return vocab;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// run.c reads a piece as a byte with sscanf("<0x%02hhX>"): "<0x" then one or two hex digits.
std::optional<unsigned char> byte_piece(std::string_view piece) {
  if (!piece.starts_with("<0x") || piece.size() < 4) return std::nullopt;
  int value = hex_digit(piece[3]);
  if (value < 0) return std::nullopt;
  if (piece.size() > 4 && hex_digit(piece[4]) >= 0) value = value * 16 + hex_digit(piece[4]);
  return static_cast<unsigned char>(value);
}

class Llama2cTokenizer final : public Tokenizer {
 public:
  Llama2cTokenizer(Vocabulary vocab, std::filesystem::path file) : vocab_(std::move(vocab)), file_(std::move(file)) {
    ids_.reserve(vocab_.pieces.size());
    // run.c finds strings by binary search, which leaves duplicates to chance; the lowest id is taken here.
    for (std::size_t id = 0; id < vocab_.pieces.size(); ++id)
      ids_.try_emplace(vocab_.pieces[id], static_cast<std::int32_t>(id));
    if (const auto it = ids_.find(" "); it != ids_.end()) dummy_prefix_ = it->second;
    special_.bos = kBos;
    special_.eos = kEos;
    special_.unk = kUnk;
  }

  std::vector<std::int64_t> encode(std::string_view text) const override {
    std::vector<std::int64_t> ids;
    if (text.empty()) return ids;
    // run.c adds the dummy prefix whatever the vocabulary; one without a " " token gets none here (run.c would
    // write id -1).
    if (dummy_prefix_) ids.push_back(*dummy_prefix_);
    // One token per UTF-8 character as run.c groups bytes: a byte that is not a continuation byte starts a
    // character, and at most 4 bytes make one.
    for (std::size_t begin = 0; begin < text.size();) {
      std::size_t end = begin + 1;
      while (end < text.size() && end - begin < 4 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
      const std::string_view character = text.substr(begin, end - begin);
      if (const auto it = ids_.find(character); it != ids_.end())
        ids.push_back(it->second);
      else
        for (const char b : character) ids.push_back(kFirstByteToken + static_cast<unsigned char>(b));
      begin = end;
    }
    merge(ids);
    return ids;
  }

  std::string decode(std::span<const std::int64_t> ids, bool skip_special) const override {
    std::string text;
    std::int64_t previous = -1;
    for (const std::int64_t id : ids) {
      check(id);
      if (id <= kEos) {
        if (!skip_special) text += kSpecialSpellings[static_cast<std::size_t>(id)];
      } else {
        std::string_view piece = vocab_.pieces[static_cast<std::size_t>(id)];
        if (previous == kBos && piece.starts_with(' ')) piece.remove_prefix(1);  // SentencePiece's dummy prefix
        if (const auto byte = byte_piece(piece)) {
          if (*byte != 0) text += static_cast<char>(*byte);  // run.c's byte 0 is an empty C string
        } else {
          text += piece;
        }
      }
      previous = id;
    }
    return to_valid_utf8(std::move(text));
  }

  std::int64_t vocab_size() const override { return static_cast<std::int64_t>(vocab_.pieces.size()); }

  std::optional<std::int64_t> token_to_id(std::string_view token) const override {
    for (std::size_t id = 0; id < kSpecialSpellings.size(); ++id)
      if (token == kSpecialSpellings[id]) return static_cast<std::int64_t>(id);
    const auto it = ids_.find(token);
    return it == ids_.end() ? std::nullopt : std::optional<std::int64_t>(it->second);
  }

  std::string id_to_token(std::int64_t id) const override {
    check(id);
    if (id <= kEos) return std::string(kSpecialSpellings[static_cast<std::size_t>(id)]);
    return vocab_.pieces[static_cast<std::size_t>(id)];
  }

  const SpecialTokens& special_tokens() const override { return special_; }

  std::string describe() const override {
    return fmt::format("llama2.c tokenizer ({} tokens) from {}", vocab_.pieces.size(), file_.string());
  }

 private:
  void check(std::int64_t id) const {
    if (id < 0 || id >= vocab_size())
      throw Error(fmt::format("token id {} is not in the vocabulary of {} tokens ({})", id, vocab_size(), describe()));
  }

  // run.c's merge loop: the highest-scoring pair first, on equal scores the leftmost (run.c's scan with a strict
  // ">"); a pair merges when its concatenation is a piece with a score.
  void merge(std::vector<std::int64_t>& ids) const {
    std::string pair;
    merge_adjacent_pairs<float>(ids, [&](std::int32_t left, std::int32_t right) -> std::optional<PairMerge<float>> {
      pair = vocab_.pieces[left];
      pair += vocab_.pieces[right];
      const auto it = ids_.find(pair);
      if (it == ids_.end()) return std::nullopt;
      const float score = vocab_.scores[it->second];
      if (!(score > kNoMerge)) return std::nullopt;
      return PairMerge<float>{-score, it->second};  // lower priority merges first
    });
  }

  Vocabulary vocab_;
  std::filesystem::path file_;
  StringMap<std::int32_t> ids_;
  std::optional<std::int32_t> dummy_prefix_;
  SpecialTokens special_;
};

}  // namespace

std::optional<std::string> llama2c_tokenizer_problem(const std::filesystem::path& file) {
  auto parsed = parse(file);
  if (auto* problem = std::get_if<std::string>(&parsed)) return std::move(*problem);
  return std::nullopt;
}

std::shared_ptr<Tokenizer> load_llama2c_tokenizer(const std::filesystem::path& file) {
  auto parsed = parse(file);
  if (auto* problem = std::get_if<std::string>(&parsed))
    throw Error(fmt::format("{}: not a llama2.c tokenizer file: {}", file.string(), *problem));
  return std::make_shared<Llama2cTokenizer>(std::get<Vocabulary>(std::move(parsed)), file);
}

}  // namespace arrakis::tok
