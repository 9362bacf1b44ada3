#include "arrakis/tools/tool_arguments.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "arrakis/error.hpp"

namespace arrakis {

void throw_not_one_of(std::string_view text, const std::string& choices) {
  throw Error(fmt::format("'{}' is not one of {}", text, choices));
}

int64_t ArgumentType<int64_t>::parse(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) throw Error(fmt::format("'{}' is out of the range of an integer", text));
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    throw Error(fmt::format("'{}' is not an integer", text));
  return value;
}

double ArgumentType<double>::parse(std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(value))
    throw Error(fmt::format("'{}' is not a finite number", text));
  return value;
}

bool ArgumentType<bool>::parse(std::string_view text) {
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  throw Error(fmt::format("'{}' is not true or false", text));
}

std::vector<int64_t> ArgumentType<std::vector<int64_t>>::parse(std::string_view text) {
  std::vector<int64_t> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const auto item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    out.push_back(ArgumentType<int64_t>::parse(item));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

torch::Tensor ArgumentType<torch::Tensor>::parse(std::string_view text) {
  std::vector<std::vector<int64_t>> rows;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto semicolon = text.find(';', start);
    rows.push_back(ArgumentType<std::vector<int64_t>>::parse(
        text.substr(start, semicolon == std::string_view::npos ? std::string_view::npos : semicolon - start)));
    if (semicolon == std::string_view::npos) break;
    start = semicolon + 1;
  }
  for (const auto& row : rows)
    if (row.size() != rows.front().size())
      throw Error(fmt::format("token rows differ in length ({} and {}): pad them", rows.front().size(), row.size()));
  auto out = torch::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows.front().size())}, torch::kLong);
  for (std::size_t b = 0; b < rows.size(); ++b)
    for (std::size_t p = 0; p < rows[b].size(); ++p) out[b][p] = rows[b][p];
  return out;
}

nlohmann::json ArgumentType<torch::Tensor>::to_json(const torch::Tensor& v) {
  if (!v.defined()) return nullptr;
  if (v.numel() <= 4096 && !v.is_floating_point() && v.dim() <= 2) {
    auto ids = v.to(torch::kCPU, torch::kLong).contiguous();
    if (ids.dim() == 1) return std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
    nlohmann::json rows = nlohmann::json::array();
    for (int64_t b = 0; b < ids.size(0); ++b)
      rows.push_back(std::vector<int64_t>(ids[b].data_ptr<int64_t>(), ids[b].data_ptr<int64_t>() + ids.size(1)));
    return rows;
  }
  return {{"shape", v.sizes().vec()}, {"dtype", std::string(c10::toString(v.scalar_type()))}};
}

}  // namespace arrakis
