#include "tokenizer/pre_tokenizer.hpp"

#include <fmt/format.h>

#include "tokenizer/byte_level_pre_tokenizer.hpp"

namespace arrakis::tok {

void SequencePreTokenizer::split_from(std::size_t step, std::string_view text, PieceSink emit) const {
  if (step == steps_.size()) {
    emit(text);
    return;
  }
  steps_[step]->split(text, [&](std::string_view piece) { split_from(step + 1, piece, emit); });
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& spec, const JsonPlace& place) {
  if (spec.is_null()) return nullptr;
  const std::string type = as_string(require(spec, "type", place), place / "type");
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(get_bool(spec, "add_prefix_space", true, place),
                                                   get_bool(spec, "use_regex", true, place));
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
      .fail(fmt::format("pre-tokenizer type \"{}\" is not supported (supported: ByteLevel, Sequence)", type));
}

}  // namespace arrakis::tok
