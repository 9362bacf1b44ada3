#pragma once
// The source code of an experiment, captured where it is written. C++ has no inspect.getsource: the macro
// ARRAKIS_EXPERIMENT stringizes the experiment's parameter list and body, so what is stored is exactly the code the
// compiler compiled (with comments dropped and whitespace runs folded to one space, as the preprocessor does).
#include <string>
#include <vector>

namespace arrakis {

struct ExperimentSource {
  std::string parameters;  // "(int layer, int head)"
  std::string body;        // "{ ... }"
  std::string tool;        // the tool handed to the experiment as its first parameter (ARRAKIS_TOOL_EXPERIMENT)

  /// What is stored and hashed: the parameter list, a space, the body (after `use_tools("name") ` with a tool).
  std::string text() const;
  /// The names of the parameters a caller passes, in order ("layer", "head"): the keys of a run's recorded
  /// arguments. With a tool, its parameter (the first) is not one of them.
  std::vector<std::string> parameter_names() const;
};

/// The one-line text the preprocessor produces, laid out one statement per line and indented by braces, for reading
/// and for line diffs. String and character literals are kept intact; `for (a; b; c)` stays on one line.
std::string format_source(const std::string& source);

}  // namespace arrakis

/// Wraps an experiment for `bench.log_experiment`, capturing its source:
///
///   auto ablation = ARRAKIS_EXPERIMENT(bench, "ablate_head", (int layer, int head), {
///     ...
///     return arrakis::ExperimentResults{{"logit_diff", value}};
///   });
///   ablation(9, 9);   // runs the body and records the run
///
/// The body is a lambda body capturing by reference ([&]), so the wrapper must not outlive what it refers to. The
/// body may contain commas (it is the macro's variadic tail).
#define ARRAKIS_EXPERIMENT(bench, name, params, ...) \
  (bench).log_experiment((name), ::arrakis::ExperimentSource{#params, #__VA_ARGS__, {}}, [&] params __VA_ARGS__)

/// The same for an experiment that uses a registered tool (the C++ form of Python's `@exp.use_tools("name")`):
/// the tool comes first in the parameter list, typed as the tool's class, and callers pass only the rest:
///
///   auto timing = ARRAKIS_TOOL_EXPERIMENT(bench, "timing", "profiler",
///                                         (arrakis::ProfilerTool& profiler, int64_t positions), { ... });
///   timing(64);
#define ARRAKIS_TOOL_EXPERIMENT(bench, name, tool_name, params, ...)                              \
  (bench).log_experiment((name), ::arrakis::ExperimentSource{#params, #__VA_ARGS__, (tool_name)}, \
                         (bench).use_tools((tool_name), [&] params __VA_ARGS__))
