#include "tokenizer/formats/json_file.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"

namespace arrakis::tok {

JsonPlace JsonPlace::operator/(std::string_view key) const {
  return JsonPlace(file_, where_.empty() ? std::string(key) : fmt::format("{}.{}", where_, key));
}

JsonPlace JsonPlace::operator[](std::size_t index) const {
  return JsonPlace(file_, fmt::format("{}[{}]", where_, index));
}

std::string JsonPlace::describe() const {
  return where_.empty() ? file_.string() : fmt::format("{}: {}", file_.string(), where_);
}

void JsonPlace::fail(std::string_view what) const { throw Error(fmt::format("{}: {}", describe(), what)); }

std::string_view json_type_name(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    default: return "binary data";
  }
}

const Json& require(const Json& object, std::string_view key, const JsonPlace& place) {
  if (!object.is_object()) place.fail(fmt::format("expected an object, found {}", json_type_name(object)));
  const auto it = object.find(key);
  if (it == object.end()) place.fail(fmt::format("missing \"{}\"", key));
  return *it;
}

bool get_bool(const Json& object, std::string_view key, bool fallback, const JsonPlace& place) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) (place / key).fail(fmt::format("expected a boolean, found {}", json_type_name(*it)));
  return it->get<bool>();
}

std::optional<std::string> get_string(const Json& object, std::string_view key, const JsonPlace& place) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  return as_string(*it, place / key);
}

const std::string& as_string(const Json& value, const JsonPlace& place) {
  if (!value.is_string()) place.fail(fmt::format("expected a string, found {}", json_type_name(value)));
  return value.get_ref<const std::string&>();
}

std::int64_t as_token_id(const Json& value, const JsonPlace& place) {
  constexpr std::int64_t kLimit = std::int64_t{1} << 31;
  if (value.is_number_unsigned() && value.get<std::uint64_t>() < static_cast<std::uint64_t>(kLimit))
    return value.get<std::int64_t>();
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0 && value.get<std::int64_t>() < kLimit)
    return value.get<std::int64_t>();
  place.fail(fmt::format("expected a token id (an integer from 0 to 2^31 - 1), found {}",
                         value.is_number() ? value.dump() : std::string(json_type_name(value))));
}

}  // namespace arrakis::tok
