#include "tokenizer/normalizers/normalizer.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"

#include "tokenizer/normalizers/lowercase_normalizer.hpp"
#include "tokenizer/normalizers/prepend_normalizer.hpp"
#include "tokenizer/normalizers/replace.hpp"
#include "tokenizer/normalizers/strip_normalizer.hpp"
#include "tokenizer/normalizers/unicode_normalizer.hpp"

namespace arrakis::tok {

void SequenceNormalizer::normalize(std::string& text) const {
  const std::size_t before = text.size();
  for (const auto& step : steps_) {
    step->normalize(text);
    if (text.size() > kMaxNormalizedGrowth * before + kNormalizedSlack)
      throw Error(
          fmt::format("the tokenizer's normalizer grew a text of {} bytes to {} bytes (at most {} times plus {} "
                      "bytes): its Replace or Prepend steps are not a real tokenizer's",
                      before, text.size(), kMaxNormalizedGrowth, kNormalizedSlack));
  }
}

namespace {

std::unique_ptr<Normalizer> build_normalizer(const Json& spec, const JsonPlace& place);

// The steps of a "Sequence", or the one normalizer of any other type.
std::vector<std::unique_ptr<Normalizer>> build_steps(const Json& spec, const JsonPlace& place) {
  std::vector<std::unique_ptr<Normalizer>> steps;
  if (spec.is_null()) return steps;
  if (as_string(require(spec, "type", place), place / "type") != "Sequence") {
    steps.push_back(build_normalizer(spec, place));
    return steps;
  }
  const Json& list = require(spec, "normalizers", place);
  if (!list.is_array()) (place / "normalizers").fail("expected an array");
  for (std::size_t i = 0; i < list.size(); ++i)
    for (auto& step : build_steps(list[i], (place / "normalizers")[i])) steps.push_back(std::move(step));
  return steps;
}

std::unique_ptr<Normalizer> build_normalizer(const Json& spec, const JsonPlace& place) {
  const std::string type = as_string(require(spec, "type", place), place / "type");
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Replace") return std::make_unique<ReplaceNormalizer>(replacement_from_json(spec, place));
  if (type == "Prepend")
    return std::make_unique<PrependNormalizer>(as_string(require(spec, "prepend", place), place / "prepend"));
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(get_bool(spec, "strip_left", true, place),
                                             get_bool(spec, "strip_right", true, place));
  (place / "type")
      .fail(fmt::format("normalizer type \"{}\" is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, "
                        "Replace, Prepend, Strip, Sequence)",
                        type));
}

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& spec, const JsonPlace& place) {
  // Nested Sequences flatten into one list of steps, so the growth check runs after every step of every level.
  auto steps = build_steps(spec, place);
  if (steps.empty()) return nullptr;
  return std::make_unique<SequenceNormalizer>(std::move(steps));
}

}  // namespace arrakis::tok
