#pragma once
// A config.json read with typed accessors whose errors name the file and the key.
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace arrakis {

/// The values an integer field may take. A value outside is an error naming the file, the field and the range,
/// raised before anything is sized or divided by it.
struct IntRange {
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
};

/// Ranges for the sizes a model config declares: wide enough for every published model, narrow enough that no file
/// can make Arrakis divide by zero or size a table by a number it cannot allocate.
namespace config_ranges {
inline constexpr IntRange kLayers{1, int64_t{1} << 16};
inline constexpr IntRange kWidth{1, int64_t{1} << 24};  // d_model, d_mlp, d_head
inline constexpr IntRange kHeads{1, int64_t{1} << 16};
inline constexpr IntRange kVocabulary{1, int64_t{1} << 26};
inline constexpr IntRange kPositions{1, int64_t{1} << 34};
inline constexpr IntRange kWindow{1, int64_t{1} << 34};  // a local attention window, in keys
inline constexpr IntRange kLayerIndex{0, int64_t{1} << 16};
}  // namespace config_ranges

class ConfigJson {
 public:
  /// Parses `path`; arrakis::Error naming the file when it is absent or not a JSON object.
  static ConfigJson load(const std::filesystem::path& path);
  ConfigJson(nlohmann::json json, std::string source);

  /// True when the key is present and not null.
  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  /// As get_int, and within `range` (arrakis::Error naming the key and the range otherwise).
  int64_t get_int(const std::string& key, IntRange range) const;
  int64_t get_int(const std::string& key, int64_t fallback, IntRange range) const;
  double get_double(const std::string& key) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  /// The first of several alternative keys that is present (configs rename fields across versions).
  std::optional<std::string> first_present(const std::vector<std::string>& keys) const;

  const nlohmann::json& json() const { return json_; }
  const std::string& source() const { return source_; }
  /// Throws arrakis::Error "SOURCE: what".
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const nlohmann::json& required(const std::string& key) const;
  nlohmann::json json_;
  std::string source_;
};

}  // namespace arrakis
