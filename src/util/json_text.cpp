#include "util/json_text.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"

namespace arrakis {

namespace {

// The byte offset where nesting first exceeds `max_depth`, if it does (brackets inside strings do not count).
std::optional<std::size_t> too_deep_at(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::nullopt;
}

}  // namespace

nlohmann::json parse_json_text(std::string_view text, const std::string& source, int max_depth) {
  if (auto at = too_deep_at(text, max_depth))
    throw Error(fmt::format("{}: not valid JSON here: arrays and objects nest deeper than {} levels (at byte {})",
                            source, max_depth, *at));
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // nlohmann's messages start with "[json.exception.parse_error.101] ": the id means nothing to a user.
    std::string_view what = e.what();
    if (what.starts_with("[json.exception.")) what.remove_prefix(std::min(what.find("] ") + 2, what.size()));
    throw Error(fmt::format("{}: not valid JSON: {}", source, what));
  }
}

nlohmann::json read_json_file(const std::filesystem::path& file) {
  return parse_json_text(read_text_file(file), file.string());
}

}  // namespace arrakis
