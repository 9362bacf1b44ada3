#pragma once
// Reading the tokenizer's JSON files so that every error names the file and the field at fault
// (e.g. "DIR/tokenizer.json: model.merges[17]: ...").
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "util/json_text.hpp"  // read_text_file, read_json_file: reading the file itself

namespace arrakis::tok {

using Json = nlohmann::json;

/// Where a JSON value came from: the file and the path to the value inside it.
class JsonPlace {
 public:
  explicit JsonPlace(std::filesystem::path file, std::string where = {})
      : file_(std::move(file)), where_(std::move(where)) {}

  JsonPlace operator/(std::string_view key) const;
  JsonPlace operator[](std::size_t index) const;

  const std::filesystem::path& file() const noexcept { return file_; }
  const std::string& where() const noexcept { return where_; }
  /// "FILE: WHERE" (or just "FILE" at the top).
  std::string describe() const;

  /// Throws arrakis::Error("FILE: WHERE: what").
  [[noreturn]] void fail(std::string_view what) const;

 private:
  std::filesystem::path file_;
  std::string where_;
};

/// `object[key]`, which must exist.
const Json& require(const Json& object, std::string_view key, const JsonPlace& place);
/// `object[key]` as a bool; `fallback` when absent or null.
bool get_bool(const Json& object, std::string_view key, bool fallback, const JsonPlace& place);
/// `object[key]` as a string; nullopt when absent or null.
std::optional<std::string> get_string(const Json& object, std::string_view key, const JsonPlace& place);
/// `value` as a string (it must be one).
const std::string& as_string(const Json& value, const JsonPlace& place);
/// `value` as a token id: an integer in [0, 2^31).
std::int64_t as_token_id(const Json& value, const JsonPlace& place);
/// A short description of a JSON value's type, for messages ("a string", "an array", ...).
std::string_view json_type_name(const Json& value);

}  // namespace arrakis::tok
