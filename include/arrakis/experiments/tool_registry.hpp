#pragma once
// Tools as plug-ins: every analysis a bench offers is a tool registered under a name. Built-in tools are
// registered by the bench; users subclass BaseInterpretabilityTool and add their own.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include <fmt/format.h>

#include "arrakis/error.hpp"

namespace arrakis {

class HookedTransformer;

class BaseInterpretabilityTool {
 public:
  explicit BaseInterpretabilityTool(HookedTransformer& model) : model_(&model) {}
  virtual ~BaseInterpretabilityTool() = default;
  BaseInterpretabilityTool(const BaseInterpretabilityTool&) = delete;
  BaseInterpretabilityTool& operator=(const BaseInterpretabilityTool&) = delete;

  /// One line for listings ("arrakis tools", error messages).
  virtual std::string description() const = 0;
  HookedTransformer& model() const { return *model_; }

 private:
  HookedTransformer* model_;
};

/// Tools by name. A tool is made on first use (from a factory given the bench's model) and then kept, so a tool
/// may hold state between experiments.
class ToolRegistry {
 public:
  using Factory = std::function<std::unique_ptr<BaseInterpretabilityTool>(HookedTransformer&)>;

  explicit ToolRegistry(HookedTransformer& model) : model_(&model) {}

  /// Registers a factory under `name`, replacing any tool of that name (a user's tool may override a built-in).
  void add(const std::string& name, Factory factory);
  /// Registers `Tool`, constructed as Tool(model) on first use.
  template <class Tool>
  void add(const std::string& name) {
    static_assert(std::is_base_of_v<BaseInterpretabilityTool, Tool>, "a tool derives from BaseInterpretabilityTool");
    add(name, [](HookedTransformer& model) { return std::make_unique<Tool>(model); });
  }
  /// Registers an existing tool object.
  void add(const std::string& name, std::unique_ptr<BaseInterpretabilityTool> tool);

  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  /// Registered names, sorted.
  std::vector<std::string> names() const;
  /// The tool; arrakis::Error listing the registered names when there is none by that name.
  BaseInterpretabilityTool& get(const std::string& name);
  /// The tool as `Tool`; arrakis::Error when it is of another type.
  template <class Tool>
  Tool& get(const std::string& name) {
    auto& tool = get(name);
    if (auto* typed = dynamic_cast<Tool*>(&tool)) return *typed;
    throw Error(fmt::format("tool '{}' is a {}, not the {} the experiment asks for", name, typeid(tool).name(),
                            typeid(Tool).name()));
  }

 private:
  struct Entry {
    Factory factory;
    std::unique_ptr<BaseInterpretabilityTool> instance;
  };
  HookedTransformer* model_;
  std::map<std::string, Entry> entries_;
};

}  // namespace arrakis
