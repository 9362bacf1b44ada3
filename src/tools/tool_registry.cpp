#include "arrakis/tools/tool_registry.hpp"

#include "arrakis/util/closest_names.hpp"

namespace arrakis {

void ToolRegistry::add(const std::string& name, Factory factory, ToolDescription description) {
  if (name.empty()) throw Error("a tool needs a name");
  if (!factory) throw Error(fmt::format("tool '{}': the factory is empty", name));
  entries_[name] = Entry{std::move(factory), nullptr, std::move(description)};
}

void ToolRegistry::add(const std::string& name, std::unique_ptr<BaseInterpretabilityTool> tool,
                       ToolDescription description) {
  if (name.empty()) throw Error("a tool needs a name");
  if (!tool) throw Error(fmt::format("tool '{}' is null", name));
  observe(name, *tool);
  entries_[name] = Entry{nullptr, std::move(tool), std::move(description)};
}

std::vector<std::string> ToolRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

const ToolRegistry::Entry& ToolRegistry::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    auto close = closest_names(name, names(), 1);
    throw Error(fmt::format("no tool named '{}'{}; registered tools: {}", name,
                            close.empty() ? "" : fmt::format(" (did you mean '{}'?)", close.front()),
                            quoted_list(names())));
  }
  return it->second;
}

ToolDescription ToolRegistry::describe(const std::string& name) const {
  const Entry& e = entry(name);
  ToolDescription out = e.description;
  if (out.description.empty() && e.instance) out.description = e.instance->description();
  return out;
}

BaseInterpretabilityTool& ToolRegistry::get(const std::string& name) {
  entry(name);  // the error for an unknown name
  auto& e = entries_.at(name);
  if (!e.instance) {
    if (!model_) throw Error(fmt::format("tool '{}': this registry lists tools and has no model to run them on", name));
    e.instance = e.factory(*model_);
    observe(name, *e.instance);
  }
  return *e.instance;
}

ToolOutput ToolRegistry::call(const std::string& tool, const std::string& method, const ToolCallInput& input) {
  const ToolDescription description = describe(tool);  // alive while its method runs
  return find_method(description, tool, method).call(get(tool), input);
}

void ToolRegistry::observe(const std::string& name, BaseInterpretabilityTool& tool) {
  tool.set_call_observer([this, name](std::string_view method, const nlohmann::json& arguments) {
    if (call_log_) call_log_(name, method, arguments);
  });
}

void ToolRegistry::set_call_log(CallLog log) { call_log_ = std::move(log); }

}  // namespace arrakis
