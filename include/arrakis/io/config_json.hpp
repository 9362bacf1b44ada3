#pragma once
// A config.json read with typed accessors whose errors name the file and the key.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace arrakis {

class ConfigJson {
 public:
  /// Parses `path`; arrakis::Error naming the file when it is absent or not a JSON object.
  static ConfigJson load(const std::filesystem::path& path);
  ConfigJson(nlohmann::json json, std::string source);

  /// True when the key is present and not null.
  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
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
