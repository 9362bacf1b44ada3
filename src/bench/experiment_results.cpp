#include "arrakis/bench/experiment_results.hpp"

#include <algorithm>

namespace arrakis {

ExperimentResults::ExperimentResults(std::initializer_list<std::pair<std::string, ResultValue>> values) {
  for (const auto& [name, value] : values) set(name, value);
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
