#pragma once
// "Did you mean ...?" for names a user mistyped: hook points, tensors, families, tools.
#include <string>
#include <string_view>
#include <vector>

namespace arrakis {

/// The `count` candidates closest to `name` by edit distance (ties keep the candidates' order).
std::vector<std::string> closest_names(std::string_view name, const std::vector<std::string>& candidates,
                                       std::size_t count = 5);

/// "'a', 'b', 'c'" — for error messages.
std::string quoted_list(const std::vector<std::string>& names);

}  // namespace arrakis
