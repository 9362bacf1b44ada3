#include "tokenizer/pre_tokenizers/pre_tokenizer.hpp"

#include <fmt/format.h>

#include "tokenizer/pre_tokenizers/byte_level_pre_tokenizer.hpp"
#include "tokenizer/pre_tokenizers/metaspace_pre_tokenizer.hpp"
#include "tokenizer/pre_tokenizers/split_pre_tokenizer.hpp"

namespace arrakis::tok {

namespace {

// Hugging Face's character classes for its fixed-pattern pre-tokenizers, as regexes matching one character.
// char::is_numeric: the N categories.
constexpr std::string_view kNumeric = R"(\p{N})";
// is_ascii_punctuation (all ASCII symbols and punctuation) or a Unicode P category.
constexpr std::string_view kPunctuation = R"([\p{P}\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E])";
// Rust regex's Unicode \w and \s: `\w+|[^\w\s]+` is what Whitespace keeps.
constexpr std::string_view kWordsOrSymbols =
    R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\s]+)";

std::unique_ptr<PreTokenizer> split_from_json(const Json& spec, const JsonPlace& place) {
  return std::make_unique<SplitPreTokenizer>(
      pattern_from_json(require(spec, "pattern", place), place / "pattern"),
      split_behavior_from_json(require(spec, "behavior", place), place / "behavior"),
      get_bool(spec, "invert", false, place));
}

}  // namespace

void SequencePreTokenizer::split_from(std::size_t step, std::string_view text, bool at_start, PieceSink emit) const {
  if (step == steps_.size()) {
    emit(text, at_start);
    return;
  }
  steps_[step]->split(text, at_start, [&](std::string_view piece, bool piece_at_start) {
    split_from(step + 1, piece, piece_at_start, emit);
  });
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& spec, const JsonPlace& place) {
  if (spec.is_null()) return nullptr;
  const std::string type = as_string(require(spec, "type", place), place / "type");
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(get_bool(spec, "add_prefix_space", true, place),
                                                   get_bool(spec, "use_regex", true, place));
  if (type == "Split") return split_from_json(spec, place);
  if (type == "Metaspace") return std::make_unique<MetaspacePreTokenizer>(metaspace_options_from_json(spec, place));
  if (type == "Digits")
    return std::make_unique<SplitPreTokenizer>(
        Pattern::regex(kNumeric),
        get_bool(spec, "individual_digits", false, place) ? SplitBehavior::Isolated : SplitBehavior::Contiguous, false);
  if (type == "Punctuation") {
    const auto behavior = spec.contains("behavior") && !spec.at("behavior").is_null()
                              ? split_behavior_from_json(spec.at("behavior"), place / "behavior")
                              : SplitBehavior::Isolated;
    return std::make_unique<SplitPreTokenizer>(Pattern::regex(kPunctuation), behavior, false);
  }
  if (type == "WhitespaceSplit")
    return std::make_unique<SplitPreTokenizer>(Pattern::regex(R"(\s)"), SplitBehavior::Removed, false);
  if (type == "Whitespace")
    return std::make_unique<SplitPreTokenizer>(Pattern::regex(kWordsOrSymbols), SplitBehavior::Removed, true);
  if (type == "Sequence") {
    const Json& list = require(spec, "pretokenizers", place);
    if (!list.is_array()) (place / "pretokenizers").fail("expected an array");
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
      if (auto step = make_pre_tokenizer(list[i], (place / "pretokenizers")[i])) steps.push_back(std::move(step));
    if (steps.empty()) return nullptr;
    if (steps.size() == 1) return std::move(steps.front());
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  (place / "type")
      .fail(fmt::format("pre-tokenizer type \"{}\" is not supported (supported: ByteLevel, Split, Metaspace, Digits, "
                        "Punctuation, Whitespace, WhitespaceSplit, Sequence)",
                        type));
}

}  // namespace arrakis::tok
