#include "arrakis/tools/tool_method.hpp"

#include <set>

#include "arrakis/util/closest_names.hpp"

namespace arrakis {

namespace {
std::string argument_list(const std::vector<ToolArgumentInfo>& arguments) {
  std::vector<std::string> names;
  for (const auto& a : arguments) names.push_back(a.name);
  return names.empty() ? std::string("(none)") : quoted_list(names);
}
}  // namespace

nlohmann::json to_json(const ToolMethodInfo& method) {
  nlohmann::json arguments = nlohmann::json::array();
  for (const auto& a : method.arguments)
    arguments.push_back({{"name", a.name},
                         {"type", a.type},
                         {"help", a.help},
                         {"required", a.need == Need::Required},
                         {"default", a.default_value}});
  return {{"name", method.name}, {"help", method.help}, {"arguments", arguments}};
}

const ToolMethodInfo& find_method(const ToolDescription& tool, const std::string& tool_name, const std::string& name) {
  std::vector<std::string> names;
  for (const auto& m : tool.methods) {
    if (m.name == name) return m;
    names.push_back(m.name);
  }
  if (names.empty())
    throw Error(fmt::format("tool '{}' declares no methods callable by name (it is used from C++ only)", tool_name));
  auto close = closest_names(name, names, 1);
  throw Error(fmt::format("tool '{}' has no method '{}'{}; its methods: {}", tool_name, name,
                          close.empty() ? "" : fmt::format(" (did you mean '{}'?)", close.front()),
                          quoted_list(names)));
}

namespace detail {

void check_call_input(const std::string& method, const std::vector<ToolArgumentInfo>& arguments,
                      const ToolCallInput& input) {
  std::set<std::string> declared;
  for (const auto& a : arguments) declared.insert(a.name);
  auto check_known = [&](const std::string& name) {
    if (!declared.count(name))
      throw Error(fmt::format("{} has no argument '{}'; its arguments: {}", method, name, argument_list(arguments)));
  };
  for (const auto& [name, text] : input.text) check_known(name);
  for (const auto& [name, tensor] : input.tensors) check_known(name);
  for (const auto& a : arguments)
    if (a.need == Need::Required && !input.text.count(a.name) && !input.tensors.count(a.name))
      throw Error(fmt::format("{} needs the argument '{}' ({}: {})", method, a.name, a.type, a.help));
}

}  // namespace detail
}  // namespace arrakis
