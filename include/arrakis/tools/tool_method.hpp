#pragma once
// A tool method, declared once. Its arguments are a struct (designated initialisers in C++) whose static
// `arguments()` names each member with a one-line help; its result is a struct with named fields that serialises to
// JSON (to_json) and hands over its tensors (tensors(), for safetensors). From that declaration come the C++ call
// (tool.method({.layer = 1})), the listing (`arrakis tools`), the shell call (`arrakis tool KEY METHOD --layer 1`)
// and the experiment log's record of the call:
//
//   struct IdentifyWriteHeads {
//     int64_t layer = 0;
//     double threshold = 0.8;
//     static constexpr std::string_view method = "identify_write_heads", help = "heads ranked by what they write";
//     static std::vector<ToolArgument<IdentifyWriteHeads>> arguments() {
//       return {argument("layer", &IdentifyWriteHeads::layer, "the layer", Need::Required),
//               argument("threshold", &IdentifyWriteHeads::threshold, "the share of score² kept")};
//     }
//   };
//   HeadRanking WriteReadTool::identify_write_heads(const IdentifyWriteHeads& args);
//   static ToolDescription WriteReadTool::describe() { return {"...",
//   {method<&WriteReadTool::identify_write_heads>()}}; }
#include <torch/types.h>

#include <concepts>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/plots/figure.hpp"
#include "arrakis/tools/tool_arguments.hpp"

namespace arrakis {

class BaseInterpretabilityTool;

enum class Need { Optional, Required };

/// One argument of a method: its name and help, and the member of Args it sets (whose type gives the parsing, the
/// type's name and the JSON; a default-constructed Args gives the default).
template <class Args>
struct ToolArgument {
  std::string name, help, type;
  Need need = Need::Optional;
  std::function<void(Args&, std::string_view)> parse;
  std::function<nlohmann::json(const Args&)> to_json;
  std::function<void(Args&, const torch::Tensor&)> set_tensor;  // tensor members only
};

template <class Args, class T>
ToolArgument<Args> argument(std::string name, T Args::*member, std::string help, Need need = Need::Optional) {
  ToolArgument<Args> a{std::move(name), std::move(help), ArgumentType<T>::name(), need, {}, {}, {}};
  a.parse = [member](Args& args, std::string_view text) { args.*member = ArgumentType<T>::parse(text); };
  a.to_json = [member](const Args& args) { return ArgumentType<T>::to_json(args.*member); };
  if constexpr (std::same_as<T, torch::Tensor> || std::same_as<T, std::optional<torch::Tensor>>)
    a.set_tensor = [member](Args& args, const torch::Tensor& t) { args.*member = t; };
  return a;
}

template <class Args>
concept ToolArguments = requires {
  { Args::method } -> std::convertible_to<std::string_view>;
  { Args::help } -> std::convertible_to<std::string_view>;
  { Args::arguments() } -> std::same_as<std::vector<ToolArgument<Args>>>;
};

template <class R>
concept ToolResult = requires(const R& r) {
  { r.to_json() } -> std::convertible_to<nlohmann::json>;
  { r.tensors() } -> std::convertible_to<NamedTensors>;
};

/// A result that knows how it is drawn (a figure spec is data: docs/plots.md): figures(tokens), the prompt's token
/// strings for the axes.
template <class R>
concept ToolResultWithFigures = ToolResult<R> && requires(const R& r, const std::vector<std::string>& tokens) {
  { r.figures(tokens) } -> std::convertible_to<std::vector<Figure>>;
};

/// The arguments as the experiment log records them: {name: value} in declaration order.
template <ToolArguments Args>
nlohmann::json arguments_json(const Args& args) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& a : Args::arguments()) out[a.name] = a.to_json(args);
  return out;
}

// ---- the type-erased view: listings and the shell ------------------------------------------------------------

struct ToolArgumentInfo {
  std::string name, type, help;
  Need need = Need::Optional;
  nlohmann::json default_value;  // null when required or absent
};

struct ToolOutput {
  nlohmann::json json;
  NamedTensors tensors;
  /// The result drawn as its analysis is usually drawn, given the prompt's token strings (empty when the result
  /// declares no figures of its own: then its 1-D and 2-D tensors are drawn as they are).
  std::function<std::vector<Figure>(const std::vector<std::string>& tokens)> figures;
};

/// A call's arguments as the shell gives them: text by argument name, and tensors (the tokens) by name.
struct ToolCallInput {
  std::map<std::string, std::string> text;
  std::map<std::string, torch::Tensor> tensors;
};

struct ToolMethodInfo {
  std::string name, help;
  std::vector<ToolArgumentInfo> arguments;
  std::function<ToolOutput(BaseInterpretabilityTool&, const ToolCallInput&)> call;
};

struct ToolDescription {
  std::string description;
  std::vector<ToolMethodInfo> methods;
};

nlohmann::json to_json(const ToolMethodInfo& method);
/// The method called `name`; arrakis::Error listing the tool's methods otherwise.
const ToolMethodInfo& find_method(const ToolDescription& tool, const std::string& tool_name, const std::string& name);

namespace detail {
template <class F>
struct member_method;
template <class Tool, class Result, class Args>
struct member_method<Result (Tool::*)(const Args&)> {
  using tool = Tool;
  using result = Result;
  using args = Args;
};

/// Unknown argument names are errors listing the method's arguments; required ones that are missing too.
void check_call_input(const std::string& method, const std::vector<ToolArgumentInfo>& arguments,
                      const ToolCallInput& input);
}  // namespace detail

/// The listing and shell entry of the method `Fn` (a member function Result Tool::f(const Args&)).
template <auto Fn>
ToolMethodInfo method() {
  using M = detail::member_method<decltype(Fn)>;
  using Tool = typename M::tool;
  using Args = typename M::args;
  using Result = typename M::result;
  static_assert(ToolArguments<Args>, "a method's arguments declare method, help and arguments()");
  static_assert(ToolResult<Result>, "a method's result has to_json() and tensors()");
  ToolMethodInfo info{std::string(Args::method), std::string(Args::help), {}, {}};
  const Args defaults{};
  for (const auto& a : Args::arguments())
    info.arguments.push_back(
        {a.name, a.type, a.help, a.need, a.need == Need::Required ? nlohmann::json(nullptr) : a.to_json(defaults)});
  info.call = [arguments = info.arguments](BaseInterpretabilityTool& base, const ToolCallInput& input) -> ToolOutput {
    detail::check_call_input(std::string(Args::method), arguments, input);
    Args args{};
    for (const auto& a : Args::arguments()) {
      if (auto it = input.text.find(a.name); it != input.text.end()) {
        try {
          a.parse(args, it->second);
        } catch (const std::exception& e) {
          throw Error(fmt::format("{}: argument {} ({}): {}", Args::method, a.name, a.type, e.what()));
        }
      } else if (auto t = input.tensors.find(a.name); t != input.tensors.end() && a.set_tensor) {
        a.set_tensor(args, t->second);
      }
    }
    auto* tool = dynamic_cast<Tool*>(&base);
    if (!tool) throw Error(fmt::format("{}: the tool is not a {}", Args::method, typeid(Tool).name()));
    Result result = (tool->*Fn)(args);
    ToolOutput output{result.to_json(), result.tensors(), {}};
    if constexpr (ToolResultWithFigures<Result>)
      output.figures = [result](const std::vector<std::string>& tokens) { return result.figures(tokens); };
    return output;
  };
  return info;
}

}  // namespace arrakis
