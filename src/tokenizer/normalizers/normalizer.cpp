#include "tokenizer/normalizers/normalizer.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"

#include "tokenizer/normalizers/lowercase_normalizer.hpp"
#include "tokenizer/normalizers/prepend_normalizer.hpp"
#include "tokenizer/normalizers/replace.hpp"
#include "tokenizer/normalizers/strip_normalizer.hpp"
#include "tokenizer/normalizers/unicode_normalizer.hpp"

namespace arrakis::tok {

void check_normalized_growth(std::size_t before, std::size_t after) {
  if (after > kMaxNormalizedGrowth * before + kNormalizedSlack)
    throw Error(
        fmt::format("the tokenizer's normalizer grew a text of {} bytes to {} bytes (at most {} times plus {} "
                    "bytes): its Replace or Prepend steps are not a real tokenizer's",
                    before, after, kMaxNormalizedGrowth, kNormalizedSlack));
}

std::unique_ptr<Normalizer> make_normalizer(const Json& spec, const JsonPlace& place) {
  if (spec.is_null()) return nullptr;
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
  if (type == "Sequence") {
    const Json& list = require(spec, "normalizers", place);
    if (!list.is_array()) (place / "normalizers").fail("expected an array");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
      if (auto step = make_normalizer(list[i], (place / "normalizers")[i])) steps.push_back(std::move(step));
    if (steps.empty()) return nullptr;
    if (steps.size() == 1) return std::move(steps.front());
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  (place / "type")
      .fail(fmt::format("normalizer type \"{}\" is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, "
                        "Replace, Prepend, Strip, Sequence)",
                        type));
}

}  // namespace arrakis::tok
