#pragma once
// Parsing JSON that came from a file (config.json, tokenizer.json, a safetensors header, an index, a store column):
// one place that turns every nlohmann exception into an arrakis::Error naming the source, and that refuses nesting
// deeper than any real file needs before nlohmann or our own recursive readers (nested normalizer Sequences,
// serialisation) can overflow the stack on it.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>

#include "util/read_file.hpp"

namespace arrakis {

/// Deeper than any config, tokenizer or header Arrakis reads (the deepest real ones nest under 10 levels).
inline constexpr int kMaxJsonDepth = 256;

/// `text` as JSON; arrakis::Error "<source>: not valid JSON: ..." when it is not (syntax, invalid UTF-8, a number
/// beyond double's range) or when it nests deeper than `max_depth` arrays and objects.
nlohmann::json parse_json_text(std::string_view text, const std::string& source, int max_depth = kMaxJsonDepth);

/// read_text_file (util/read_file.hpp), then parse_json_text with the file as the source.
nlohmann::json read_json_file(const std::filesystem::path& file);

}  // namespace arrakis
