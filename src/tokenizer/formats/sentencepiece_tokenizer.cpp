#include "tokenizer/formats/sentencepiece_tokenizer.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "tokenizer/formats/sentencepiece_library.hpp"
#include "tokenizer/utf8.hpp"

namespace arrakis::tok {

namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(std::unique_ptr<SentencePieceModel> processor, std::filesystem::path file)
      : processor_(std::move(processor)), file_(std::move(file)), size_(processor_->piece_size()) {
    const auto id = [](int value) { return value >= 0 ? std::optional<std::int64_t>(value) : std::nullopt; };
    special_.bos = id(processor_->bos_id());
    special_.eos = id(processor_->eos_id());
    special_.unk = id(processor_->unk_id());
    special_.pad = id(processor_->pad_id());
  }

  std::vector<std::int64_t> encode(std::string_view text) const override {
    const auto ids = processor_->encode(text);
    return {ids.begin(), ids.end()};
  }

  std::string decode(std::span<const std::int64_t> ids, bool skip_special) const override {
    std::vector<std::int32_t> pieces;
    pieces.reserve(ids.size());
    for (const std::int64_t id : ids) pieces.push_back(checked(id));
    // Each piece's surface as SentencePiece decodes the whole sequence (its rule for the leading space of the
    // dummy prefix, bytes joined into characters), with the special pieces written out or dropped.
    const auto surfaces = processor_->decode_surfaces(pieces);
    std::string text;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      if (is_special(pieces[i])) {
        if (!skip_special) text += processor_->id_to_piece(pieces[i]);
      } else {
        text += surfaces[i];
      }
    }
    return to_valid_utf8(std::move(text));
  }

  std::int64_t vocab_size() const override { return size_; }

  std::optional<std::int64_t> token_to_id(std::string_view token) const override {
    const int id = processor_->piece_to_id(token);
    // SentencePiece answers unk_id for any piece it does not have.
    if (id < 0 || (processor_->is_unknown(id) && processor_->id_to_piece(id) != token)) return std::nullopt;
    return id;
  }

  std::string id_to_token(std::int64_t id) const override { return processor_->id_to_piece(checked(id)); }

  const SpecialTokens& special_tokens() const override { return special_; }

  std::string describe() const override {
    return fmt::format("SentencePiece model ({} tokens) from {}", size_, file_.string());
  }

 private:
  int checked(std::int64_t id) const {
    if (id < 0 || id >= size_)
      throw Error(fmt::format("token id {} is not in the vocabulary of {} tokens ({})", id, size_, describe()));
    return static_cast<int>(id);
  }
  bool is_special(int id) const { return processor_->is_control(id) || processor_->is_unknown(id); }

  std::unique_ptr<SentencePieceModel> processor_;
  std::filesystem::path file_;
  std::int64_t size_;
  SpecialTokens special_;
};

}  // namespace

std::shared_ptr<Tokenizer> load_sentencepiece_model(const std::filesystem::path& file) {
  auto processor = std::make_unique<SentencePieceModel>(file);
  if (processor->piece_size() <= 0) throw Error(fmt::format("{}: SentencePiece model with no pieces", file.string()));
  return std::make_shared<SentencePieceTokenizer>(std::move(processor), file);
}

}  // namespace arrakis::tok
