#pragma once
// Numbers in figure specs, shared by Figure::to_json and the backends that translate a figure.
#include <vector>

#include <nlohmann/json.hpp>

namespace arrakis {

/// `value` at float precision in its shortest form (0.1, not 0.10000000149011612); null for NaN and infinities.
nlohmann::json figure_number(double value);
nlohmann::json figure_numbers(const std::vector<double>& values);

}  // namespace arrakis
