#include "arrakis/io/config_json.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "arrakis/error.hpp"
#include "util/json_text.hpp"

namespace arrakis {

ConfigJson ConfigJson::load(const std::filesystem::path& path) {
  nlohmann::json j = read_json_file(path);
  if (!j.is_object()) throw Error(fmt::format("{}: not a JSON object", path.string()));
  return ConfigJson(std::move(j), path.string());
}

ConfigJson::ConfigJson(nlohmann::json json, std::string source) : json_(std::move(json)), source_(std::move(source)) {}

void ConfigJson::fail(const std::string& what) const { throw Error(fmt::format("{}: {}", source_, what)); }

bool ConfigJson::has(const std::string& key) const { return json_.contains(key) && !json_[key].is_null(); }

const nlohmann::json& ConfigJson::required(const std::string& key) const {
  if (!has(key)) fail(fmt::format("missing '{}'", key));
  return json_[key];
}

int64_t ConfigJson::get_int(const std::string& key) const {
  const auto& v = required(key);
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    fail(fmt::format("'{}' is {}, beyond any size a model has", key, v.dump()));
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    // 2^63 is exactly representable; anything at or beyond it (or NaN) cannot be converted without undefined
    // behaviour, so it is checked before the cast.
    const double d = v.get<double>();
    if (std::isfinite(d) && std::abs(d) < 9.2233720368547758e18 && d == std::trunc(d)) return static_cast<int64_t>(d);
  }
  fail(fmt::format("'{}' must be an integer, got {}", key, v.dump()));
}

int64_t ConfigJson::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

int64_t ConfigJson::get_int(const std::string& key, IntRange range) const {
  const int64_t value = get_int(key);
  if (value < range.min || value > range.max)
    fail(range.max == std::numeric_limits<int64_t>::max()
             ? fmt::format("'{}' is {}; it must be at least {}", key, value, range.min)
             : fmt::format("'{}' is {}; it must be between {} and {}", key, value, range.min, range.max));
  return value;
}

int64_t ConfigJson::get_int(const std::string& key, int64_t fallback, IntRange range) const {
  return has(key) ? get_int(key, range) : fallback;
}

double ConfigJson::get_double(const std::string& key) const {
  const auto& v = required(key);
  if (!v.is_number()) fail(fmt::format("'{}' must be a number, got {}", key, v.dump()));
  return v.get<double>();
}

double ConfigJson::get_double(const std::string& key, double fallback) const {
  return has(key) ? get_double(key) : fallback;
}

bool ConfigJson::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_[key];
  if (!v.is_boolean()) fail(fmt::format("'{}' must be true or false, got {}", key, v.dump()));
  return v.get<bool>();
}

std::string ConfigJson::get_string(const std::string& key) const {
  const auto& v = required(key);
  if (!v.is_string()) fail(fmt::format("'{}' must be a string, got {}", key, v.dump()));
  return v.get<std::string>();
}

std::string ConfigJson::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

std::optional<std::string> ConfigJson::first_present(const std::vector<std::string>& keys) const {
  for (const auto& k : keys)
    if (has(k)) return k;
  return std::nullopt;
}

}  // namespace arrakis
