#pragma once
// Tools as plug-ins: every analysis a bench offers is a tool registered under a key. Built-in tools are registered
// by the bench; users subclass BaseInterpretabilityTool and add their own. A tool that declares its methods
// (a static describe(), see tool_method.hpp) is listed with them by `arrakis tools`, callable by name from the shell,
// and its calls are recorded by a logged experiment.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "arrakis/error.hpp"
#include "arrakis/tools/tool_method.hpp"

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

  /// Told (method, arguments) at every declared method's call; the registry passes calls on to the bench's log.
  using CallObserver = std::function<void(std::string_view method, const nlohmann::json& arguments)>;
  void set_call_observer(CallObserver observer) { observer_ = std::move(observer); }

 protected:
  /// Every declared method calls this first, so that a logged experiment records the call.
  template <ToolArguments Args>
  void note_call(const Args& args) const {
    if (observer_) observer_(Args::method, arguments_json(args));
  }

 private:
  HookedTransformer* model_;
  CallObserver observer_;
};

/// Tools by key. A tool is made on first use (from a factory given the bench's model) and then kept, so a tool
/// may hold state between experiments.
class ToolRegistry {
 public:
  using Factory = std::function<std::unique_ptr<BaseInterpretabilityTool>(HookedTransformer&)>;
  /// Told (tool key, method, arguments) at every declared method's call of any tool of this registry.
  using CallLog = std::function<void(const std::string& tool, std::string_view method, const nlohmann::json& args)>;

  explicit ToolRegistry(HookedTransformer& model) : model_(&model) {}
  /// A registry with no model: for listing what is registered (`arrakis tools`); get() is an error.
  ToolRegistry() = default;

  /// Registers a factory under `name`, replacing any tool of that name (a user's tool may override a built-in).
  void add(const std::string& name, Factory factory, ToolDescription description = {});
  /// Registers `Tool`, constructed as Tool(model) on first use; its static describe(), if any, lists its methods.
  template <class Tool>
  void add(const std::string& name) {
    static_assert(std::is_base_of_v<BaseInterpretabilityTool, Tool>, "a tool derives from BaseInterpretabilityTool");
    ToolDescription description;
    if constexpr (requires { Tool::describe(); }) description = Tool::describe();
    add(
        name, [](HookedTransformer& model) { return std::make_unique<Tool>(model); }, std::move(description));
  }
  /// Registers an existing tool object.
  void add(const std::string& name, std::unique_ptr<BaseInterpretabilityTool> tool, ToolDescription description = {});

  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  /// Registered names, sorted.
  std::vector<std::string> names() const;
  /// What the tool declares: its description (the instance's description() when it declares none and has been
  /// made) and its methods; arrakis::Error listing the registered names when there is none by that name.
  ToolDescription describe(const std::string& name) const;
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
  /// Calls a declared method by name with arguments as text (the shell's way).
  ToolOutput call(const std::string& tool, const std::string& method, const ToolCallInput& input);

  /// Where calls are reported (the bench's experiment log); one log for every tool, made or not yet made.
  void set_call_log(CallLog log);

 private:
  struct Entry {
    Factory factory;
    std::unique_ptr<BaseInterpretabilityTool> instance;
    ToolDescription description;
  };
  const Entry& entry(const std::string& name) const;
  void observe(const std::string& name, BaseInterpretabilityTool& tool);
  HookedTransformer* model_ = nullptr;
  std::map<std::string, Entry> entries_;
  CallLog call_log_;
};

}  // namespace arrakis
