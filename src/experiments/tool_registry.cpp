#include "arrakis/experiments/tool_registry.hpp"

#include "arrakis/util/closest_names.hpp"

namespace arrakis {

void ToolRegistry::add(const std::string& name, Factory factory) {
  if (name.empty()) throw Error("a tool needs a name");
  if (!factory) throw Error(fmt::format("tool '{}': the factory is empty", name));
  entries_[name] = Entry{std::move(factory), nullptr};
}

void ToolRegistry::add(const std::string& name, std::unique_ptr<BaseInterpretabilityTool> tool) {
  if (name.empty()) throw Error("a tool needs a name");
  if (!tool) throw Error(fmt::format("tool '{}' is null", name));
  entries_[name] = Entry{nullptr, std::move(tool)};
}

std::vector<std::string> ToolRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

BaseInterpretabilityTool& ToolRegistry::get(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end())
    throw Error(fmt::format("no tool named '{}'; registered tools: {}", name, quoted_list(names())));
  auto& entry = it->second;
  if (!entry.instance) entry.instance = entry.factory(*model_);
  return *entry.instance;
}

}  // namespace arrakis
