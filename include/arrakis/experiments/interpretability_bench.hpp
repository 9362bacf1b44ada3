#pragma once
// InterpretabilityBench: the object a researcher derives from to run experiments on a model. It holds the model,
// a registry of tools (built-ins plus the user's own), and the experiment store, where every run of every logged
// experiment is recorded with its source, arguments, results, model identity, library version, seed and times.
//
//   struct IoiExperiment : arrakis::InterpretabilityBench {
//     using InterpretabilityBench::InterpretabilityBench;
//   };
//   IoiExperiment bench(model, "experiments");
//   auto ablate = ARRAKIS_EXPERIMENT(bench, "ablate_head", (int layer, int head), { ...; return results; });
//   ablate(9, 9);
//   bench.list_versions("ablate_head");
//
// See docs/experiments.md.
#include <torch/types.h>
#include <torch/utils.h>

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "arrakis/analysis/hypothesis_tests.hpp"
#include "arrakis/experiments/builtin_tools.hpp"
#include "arrakis/experiments/experiment_results.hpp"
#include "arrakis/experiments/experiment_source.hpp"
#include "arrakis/experiments/experiment_store.hpp"
#include "arrakis/experiments/model_profiler.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/plots/plot_backend.hpp"
#include "arrakis/plots/plot_spec.hpp"
#include "arrakis/tools/tool_registry.hpp"

namespace arrakis {

class InterpretabilityBench;

namespace detail {

// The tool type an experiment function takes first: the declared type of a plain lambda's first parameter, or the
// base class for generic lambdas.
template <class T>
struct first_parameter;
template <class C, class R, class A, class... Rest>
struct first_parameter<R (C::*)(A, Rest...) const> {
  using type = std::remove_cvref_t<A>;
};
template <class C, class R, class A, class... Rest>
struct first_parameter<R (C::*)(A, Rest...)> {
  using type = std::remove_cvref_t<A>;
};
template <class Fn>
struct tool_type {
  using type = BaseInterpretabilityTool;
};
template <class Fn>
requires requires { &Fn::operator(); }
struct tool_type<Fn> {
  using type = typename first_parameter<decltype(&Fn::operator())>::type;
};

// The I-th parameter's type of a plain lambda (the I-th tool of use_tools({...}, fn)), or the base class.
template <class T>
struct parameter_types;
template <class C, class R, class... A>
struct parameter_types<R (C::*)(A...) const> {
  using type = std::tuple<std::remove_cvref_t<A>...>;
};
template <class C, class R, class... A>
struct parameter_types<R (C::*)(A...)> {
  using type = std::tuple<std::remove_cvref_t<A>...>;
};
template <class Fn, std::size_t I>
struct tool_type_at {
  using type = BaseInterpretabilityTool;
};
template <class Fn, std::size_t I>
requires requires { &Fn::operator(); }
struct tool_type_at<Fn, I> {
  using type = std::tuple_element_t<I, typename parameter_types<decltype(&Fn::operator())>::type>;
};

}  // namespace detail

/// An experiment wrapped by log_experiment: calling it runs the experiment, records the run, and returns what the
/// experiment returned. A run whose experiment throws is recorded as failed (with the message) and the exception
/// goes on.
template <class Fn>
class LoggedExperiment {
 public:
  LoggedExperiment(InterpretabilityBench& bench, std::string name, ExperimentSource source, Fn fn)
      : bench_(&bench), name_(std::move(name)), source_(std::move(source)), fn_(std::move(fn)) {}

  template <class... Args>
  decltype(auto) operator()(Args&&... args);

  const std::string& name() const { return name_; }
  const ExperimentSource& source() const { return source_; }
  /// The version every run of this code belongs to (the hash of source().text()).
  std::string version() const { return ExperimentStore::version_hash(source_.text()); }

 private:
  InterpretabilityBench* bench_;
  std::string name_;
  ExperimentSource source_;
  Fn fn_;
};

class InterpretabilityBench {
 public:
  /// `save_dir` is created if absent; the experiment database opens there (see ExperimentStore for the errors).
  InterpretabilityBench(HookedTransformer& model, const std::filesystem::path& save_dir = "experiments");
  virtual ~InterpretabilityBench() = default;
  InterpretabilityBench(const InterpretabilityBench&) = delete;
  InterpretabilityBench& operator=(const InterpretabilityBench&) = delete;

  HookedTransformer& model() const { return *model_; }
  ExperimentStore& store() { return store_; }
  const ExperimentStore& store() const { return store_; }
  const std::filesystem::path& save_dir() const { return store_.save_dir(); }

  /// Tools by name: "activations", "profiler", "statistics" built in; add your own with tools.add<MyTool>("name").
  ToolRegistry tools;

  /// The seed each run starts from (torch::manual_seed before the experiment runs); recorded with every run.
  void set_seed(uint64_t seed) { seed_ = seed; }
  uint64_t seed() const { return seed_; }

  // ---- experiments ----------------------------------------------------------------------------------------------
  /// Wraps `fn` so that every call is recorded under `name` as a run of the version `source` identifies. Use the
  /// ARRAKIS_EXPERIMENT macro, which captures the source for you.
  template <class Fn>
  LoggedExperiment<Fn> log_experiment(std::string name, ExperimentSource source, Fn fn) {
    return LoggedExperiment<Fn>(*this, std::move(name), std::move(source), std::move(fn));
  }

  /// A callable that runs `fn(tool, args...)` with the tool registered as `name` (the type of fn's first parameter,
  /// e.g. ProfilerTool&). Unknown names and tools of another type are errors now, not at the first call.
  template <class Name, class Fn>
  requires std::convertible_to<const Name&, std::string>  // a template, so that a braced list picks the overload below
  auto use_tools(const Name& name, Fn fn) {
    using Tool = typename detail::tool_type<Fn>::type;
    Tool& tool = tools.get<Tool>(name);
    return [&tool, fn = std::move(fn)](auto&&... args) mutable -> decltype(auto) {
      return fn(tool, std::forward<decltype(args)>(args)...);
    };
  }

  /// Several tools at once, as the seeds' use_tools("a", "b"): use_tools({"write_read", "attention"}, fn) calls
  /// fn(write_read_tool, attention_tool, args...), each tool of the type of fn's parameter in that place.
  template <std::size_t N, class Fn>
  auto use_tools(const std::string (&names)[N], Fn fn) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      std::tuple<typename detail::tool_type_at<Fn, I>::type*...> chosen{
          &tools.get<typename detail::tool_type_at<Fn, I>::type>(names[I])...};
      return [chosen, fn = std::move(fn)](auto&&... args) mutable -> decltype(auto) {
        return fn(*std::get<I>(chosen)..., std::forward<decltype(args)>(args)...);
      };
    }
    (std::make_index_sequence<N>{});
  }

  std::vector<ExperimentSummary> experiments() const { return store_.summary(); }
  std::vector<VersionInfo> list_versions(const std::string& name) const { return store_.list_versions(name); }
  VersionInfo get_version(const std::string& name, const std::string& hash) const {
    return store_.get_version(name, hash);
  }
  std::vector<RunRecord> runs(const std::string& name, const std::string& version = {}) const {
    return store_.runs(name, version);
  }
  RunRecord run(int64_t id) const { return store_.run(id); }
  /// The last run this bench recorded; arrakis::Error before the first.
  RunRecord last_run() const;
  std::string diff(const std::string& name, const std::string& from_version, const std::string& to_version) const {
    return store_.diff(name, from_version, to_version);
  }
  /// The values of result `key` over an experiment's successful runs (of one version when given), oldest first: a
  /// number adds one value, an array of numbers adds each.
  std::vector<double> metric(const std::string& name, const std::string& key, const std::string& version = {}) const;
  torch::Tensor load_tensor(const nlohmann::json& reference) const { return store_.load_tensor(reference); }

  // ---- profiling and statistics ---------------------------------------------------------------------------------
  ModelProfile profile_model(const torch::Tensor& tokens, const ProfileOptions& options = {}) {
    return arrakis::profile_model(*model_, tokens, options);
  }
  HypothesisReport test_hypothesis(std::span<const double> x, std::span<const double> y,
                                   const HypothesisOptions& options = {}) const {
    return arrakis::test_hypothesis(x, y, options);
  }

  // ---- plots (docs/plots.md) --------------------------------------------------------------------------------------
  /// The backend plot_results writes with: "html" (the default), "svg", "png", "json" or one registered with
  /// register_plot_backend. arrakis::Error listing them for an unknown name.
  void set_plotting_lib(const std::string& backend);
  const std::string& plotting_lib() const { return plotting_lib_; }
  /// Runs the model once on `tokens` with a cache of exactly the hook points the specs need and returns their
  /// figures; with `file`, also draws them there with the plotting lib (relative paths are under save_dir()).
  std::vector<Figure> plot_results(const std::vector<PlotSpec>& specs, const torch::Tensor& tokens,
                                   const std::optional<std::filesystem::path>& file = std::nullopt);
  /// Figures of tensors a run recorded as results (keys: result names; 2-D: heatmaps, 1-D: lines), titled with the
  /// experiment's name and run id.
  std::vector<Figure> plot_run(int64_t run_id, const std::vector<std::string>& keys) const;

  /// The model as runs record it: name, family, config (TransformerLens fields), parameter count, dtype, device and
  /// a SHA-256 fingerprint of the weights (computed once, on the first run).
  const nlohmann::json& model_identity();

  // ---- used by LoggedExperiment ---------------------------------------------------------------------------------
  int64_t begin_run(const std::string& name, const ExperimentSource& source, nlohmann::json arguments);
  void finish_run(int64_t id, const ExperimentResults& results);
  void fail_run(int64_t id, const std::string& error);
  /// An argument as recorded: JSON when nlohmann::json can hold it, a tensor reference for tensors, otherwise its
  /// type's name.
  template <class T>
  nlohmann::json argument_json(const T& value) {
    using V = std::remove_cvref_t<T>;
    if constexpr (std::same_as<V, torch::Tensor>)
      return store_.store_tensor(value);
    else if constexpr (std::constructible_from<nlohmann::json, const V&>)
      return nlohmann::json(value);
    else
      return nlohmann::json(std::string("<") + typeid(V).name() + ">");
  }

 private:
  void close_run(int64_t id);
  HookedTransformer* model_;
  ExperimentStore store_;
  uint64_t seed_ = 0;
  std::optional<nlohmann::json> model_identity_;
  std::string plotting_lib_ = "html";
  int64_t last_run_ = 0;
  std::vector<int64_t> open_runs_;  // logged experiments running now, innermost last: tool calls go to it
};

template <class Fn>
template <class... Args>
decltype(auto) LoggedExperiment<Fn>::operator()(Args&&... args) {
  auto names = source_.parameter_names();
  auto arguments = nlohmann::json::object();
  [[maybe_unused]] std::size_t index = 0;  // unused when the experiment takes no arguments
  (
      [&] {
        std::string key =
            index < names.size() && names.size() == sizeof...(Args) ? names[index] : "arg" + std::to_string(index);
        arguments[key] = bench_->argument_json(args);
        ++index;
      }(),
      ...);
  const int64_t id = bench_->begin_run(name_, source_, std::move(arguments));
  using R = std::invoke_result_t<Fn&, Args&&...>;
  try {
    if constexpr (std::is_void_v<R>) {
      fn_(std::forward<Args>(args)...);
      bench_->finish_run(id, ExperimentResults{});
    } else {
      R result = fn_(std::forward<Args>(args)...);
      bench_->finish_run(id, detail::to_results(static_cast<const std::remove_reference_t<R>&>(result)));
      return result;
    }
  } catch (const std::exception& e) {
    bench_->fail_run(id, e.what());
    throw;
  } catch (...) {
    bench_->fail_run(id, "(an exception not derived from std::exception)");
    throw;
  }
}

}  // namespace arrakis
