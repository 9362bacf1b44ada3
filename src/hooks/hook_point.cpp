#include "arrakis/hooks/hook_point.hpp"

#include "arrakis/error.hpp"

namespace arrakis {

NameFilter::NameFilter(std::vector<std::string> names) : names_(std::move(names)) {}

NameFilter::NameFilter(std::initializer_list<const char*> names) : names_(std::vector<std::string>{}) {
  for (const char* n : names) names_->emplace_back(n);
}

NameFilter::NameFilter(std::function<bool(const std::string&)> predicate) : predicate_(std::move(predicate)) {}

bool NameFilter::matches(const std::string& name) const {
  if (names_) {
    for (const auto& n : *names_)
      if (n == name) return true;
    return false;
  }
  return !predicate_ || predicate_(name);
}

NameFilter names_matching(const std::string& pattern) {
  std::regex re;
  try {
    re = std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw Error("hook-name pattern '" + pattern + "' is not a valid regular expression: " + e.what());
  }
  return NameFilter([re](const std::string& name) { return std::regex_search(name, re); });
}

}  // namespace arrakis
