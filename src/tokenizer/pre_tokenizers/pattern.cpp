#include "tokenizer/pre_tokenizers/pattern.hpp"

#include <fmt/format.h>

namespace arrakis::tok {

Pattern Pattern::literal(std::string text) { return Pattern(std::move(text)); }

Pattern Pattern::regex(std::string_view pattern) { return Pattern(Regex(pattern)); }

void Pattern::for_each_match(std::string_view text, FunctionRef<void(std::size_t, std::size_t)> on_match) const {
  if (const auto* regex = std::get_if<Regex>(&matcher_)) {
    regex->for_each_match(text, on_match);
    return;
  }
  const std::string& literal = std::get<std::string>(matcher_);
  if (literal.empty()) return;
  for (std::size_t pos = text.find(literal); pos != std::string_view::npos; pos = text.find(literal, pos)) {
    on_match(pos, pos + literal.size());
    pos += literal.size();
  }
}

std::string Pattern::describe() const {
  if (const auto* regex = std::get_if<Regex>(&matcher_)) return fmt::format("{{\"Regex\": \"{}\"}}", regex->pattern());
  return fmt::format("{{\"String\": \"{}\"}}", std::get<std::string>(matcher_));
}

Pattern pattern_from_json(const Json& spec, const JsonPlace& place) {
  if (spec.is_object() && spec.size() == 1) {
    if (const auto it = spec.find("String"); it != spec.end())
      return Pattern::literal(as_string(*it, place / "String"));
    if (const auto it = spec.find("Regex"); it != spec.end()) {
      const std::string& pattern = as_string(*it, place / "Regex");
      try {
        return Pattern::regex(pattern);
      } catch (const std::exception& e) {
        (place / "Regex").fail(e.what());
      }
    }
  }
  place.fail(fmt::format("expected {{\"String\": ...}} or {{\"Regex\": ...}}, found {}", spec.dump()));
}

std::string replace_all(const Pattern& pattern, std::string_view text, std::string_view content) {
  std::string out;
  std::size_t done = 0;
  pattern.for_each_match(text, [&](std::size_t begin, std::size_t end) {
    out.append(text.substr(done, begin - done));
    out.append(content);
    done = end;
  });
  out.append(text.substr(done));
  return out;
}

}  // namespace arrakis::tok
