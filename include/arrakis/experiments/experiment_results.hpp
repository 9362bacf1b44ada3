#pragma once
// What an experiment run returns: named values. Scalars, strings and JSON are stored in the database as they are;
// tensors are written as safetensors files beside it and referenced from the results by content hash.
#include <torch/types.h>

#include <concepts>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace arrakis {

/// One named result: JSON (numbers, strings, arrays, objects) or a tensor.
class ResultValue {
 public:
  ResultValue(torch::Tensor tensor) : tensor_(std::move(tensor)) {}  // NOLINT: implicit, for brace lists
  template <class T>
  requires(!std::same_as<std::remove_cvref_t<T>, torch::Tensor> && !std::same_as<std::remove_cvref_t<T>, ResultValue> &&
           std::constructible_from<nlohmann::json, T>) ResultValue(T&& value)
      : json_(std::forward<T>(value)) {}  // NOLINT

  bool is_tensor() const { return tensor_.defined(); }
  const torch::Tensor& tensor() const { return tensor_; }
  const nlohmann::json& json() const { return json_; }

 private:
  nlohmann::json json_;
  torch::Tensor tensor_;
};

class ExperimentResults {
 public:
  ExperimentResults() = default;
  ExperimentResults(std::initializer_list<std::pair<std::string, ResultValue>> values);

  /// Sets (or replaces) a result.
  ExperimentResults& set(const std::string& name, ResultValue value);
  const std::vector<std::pair<std::string, ResultValue>>& values() const { return values_; }
  bool empty() const { return values_.empty(); }
  bool contains(std::string_view name) const;
  /// The result called `name`; arrakis::Error listing the results there are otherwise.
  const ResultValue& operator[](std::string_view name) const;
  /// A JSON result as a C++ value: results.get<double>("loss").
  template <class T>
  T get(std::string_view name) const {
    return (*this)[name].json().template get<T>();
  }

 private:
  std::vector<std::pair<std::string, ResultValue>> values_;
};

/// How a tensor result appears in a run's results JSON: {"$tensor": hash, "dtype": "F32", "shape": [...]}.
bool is_tensor_reference(const nlohmann::json& value);

namespace detail {

/// An experiment's return value as results: ExperimentResults as they are, a JSON object's fields, anything else
/// (a number, a tensor, ...) under the name "result".
template <class R>
ExperimentResults to_results(R&& value) {
  using T = std::remove_cvref_t<R>;
  if constexpr (std::same_as<T, ExperimentResults>) {
    return std::forward<R>(value);
  } else if constexpr (std::same_as<T, nlohmann::json>) {
    ExperimentResults results;
    if (value.is_object())
      for (auto it = value.begin(); it != value.end(); ++it) results.set(it.key(), nlohmann::json(it.value()));
    else
      results.set("result", nlohmann::json(value));
    return results;
  } else {
    static_assert(std::constructible_from<ResultValue, R>,
                  "an experiment returns ExperimentResults, a tensor, or a value nlohmann::json can hold");
    ExperimentResults results;
    results.set("result", ResultValue(std::forward<R>(value)));
    return results;
  }
}

}  // namespace detail
}  // namespace arrakis
