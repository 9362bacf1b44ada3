#include "arrakis/experiments/experiment_results.hpp"
#include <fmt/format.h>
#include "arrakis/error.hpp"
#include "arrakis/util/closest_names.hpp"

#include <algorithm>

namespace arrakis {

ExperimentResults::ExperimentResults(std::initializer_list<std::pair<std::string, ResultValue>> values) {
  for (const auto& [name, value] : values) set(name, value);
}

bool ExperimentResults::contains(std::string_view name) const {
  return std::any_of(values_.begin(), values_.end(), [&](const auto& entry) { return entry.first == name; });
}

const ResultValue& ExperimentResults::operator[](std::string_view name) const {
  for (const auto& [key, value] : values_)
    if (key == name) return value;
  std::vector<std::string> names;
  for (const auto& entry : values_) names.push_back(entry.first);
  throw Error(fmt::format("the experiment returned no result '{}' (it returned {})", name,
                          names.empty() ? std::string("none") : quoted_list(names)));
}

ExperimentResults& ExperimentResults::set(const std::string& name, ResultValue value) {
  auto it = std::find_if(values_.begin(), values_.end(), [&](const auto& entry) { return entry.first == name; });
  if (it != values_.end())
    it->second = std::move(value);
  else
    values_.emplace_back(name, std::move(value));
  return *this;
}

bool is_tensor_reference(const nlohmann::json& value) {
  return value.is_object() && value.contains("$tensor") && value["$tensor"].is_string();
}

}  // namespace arrakis
