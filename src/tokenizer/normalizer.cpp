#include "tokenizer/normalizer.hpp"

#include <fmt/format.h>

namespace arrakis::tok {

std::unique_ptr<Normalizer> make_normalizer(const Json& spec, const JsonPlace& place) {
  if (spec.is_null()) return nullptr;
  const std::string type = as_string(require(spec, "type", place), place / "type");
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
  (place / "type").fail(fmt::format("normalizer type \"{}\" is not supported (supported: none, Sequence)", type));
}

}  // namespace arrakis::tok
