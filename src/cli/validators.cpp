#include "cli/validators.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <string>

namespace arrakis::cli {

CLI::Validator integer_in(int64_t min, int64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        int64_t value = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || end != text.data() + text.size())
          return fmt::format("'{}' is not an integer between {} and {}", text, min, max);
        if (value < min || value > max) return fmt::format("{} is not between {} and {}", value, min, max);
        return {};
      },
      fmt::format("INT in [{}, {}]", min, max));
}

CLI::Validator number_in(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        double value = 0;
        std::size_t used = 0;
        try {
          value = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != text.size() || !std::isfinite(value))
          return fmt::format("'{}' is not a number between {} and {}", text, min, max);
        if (value < min || value > max) return fmt::format("{} is not between {} and {}", value, min, max);
        return {};
      },
      fmt::format("NUMBER in [{}, {}]", min, max));
}

}  // namespace arrakis::cli
