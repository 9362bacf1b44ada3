#include "arrakis/experiments/interpretability_bench.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "arrakis/error.hpp"
#include "arrakis/experiments/content_hash.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "arrakis/runtime.hpp"
#include "arrakis/util/closest_names.hpp"

namespace arrakis {

InterpretabilityBench::InterpretabilityBench(HookedTransformer& model, const std::filesystem::path& save_dir)
    : tools(model), model_(&model), store_(save_dir) {
  register_builtin_tools(tools);
  // A declared tool method called while a logged experiment runs is recorded with that run.
  tools.set_call_log([this](const std::string& tool, std::string_view method, const nlohmann::json& arguments) {
    if (!open_runs_.empty()) store_.record_tool_call(open_runs_.back(), tool, method, arguments);
  });
}

const nlohmann::json& InterpretabilityBench::model_identity() {
  if (!model_identity_) {
    const auto& config = model_->config();
    int64_t parameters = 0;
    for (const auto& [name, tensor] : model_->weights().named_parameters(config)) parameters += tensor.numel();
    model_identity_ = nlohmann::json{{"name", config.model_name},
                                     {"family", config.family},
                                     {"config", config_to_transformer_lens(config)},
                                     {"parameters", parameters},
                                     {"dtype", std::string(c10::toString(config.dtype))},
                                     {"device", model_->device().str()},
                                     {"weights_sha256", weight_fingerprint(*model_)}};
  }
  return *model_identity_;
}

int64_t InterpretabilityBench::begin_run(const std::string& name, const ExperimentSource& source,
                                         nlohmann::json arguments) {
  NewRun run{name, source.text(), std::move(arguments), model_identity(), seed_};
  last_run_ = store_.begin_run(run);
  open_runs_.push_back(last_run_);
  // Every run starts from the same random state, so a run can be repeated exactly.
  torch::manual_seed(seed_);
  return last_run_;
}

void InterpretabilityBench::close_run(int64_t id) {
  if (auto it = std::find(open_runs_.begin(), open_runs_.end(), id); it != open_runs_.end()) open_runs_.erase(it);
}

void InterpretabilityBench::finish_run(int64_t id, const ExperimentResults& results) {
  close_run(id);
  auto json = nlohmann::json::object();
  for (const auto& [key, value] : results.values())
    json[key] = value.is_tensor() ? store_.store_tensor(value.tensor()) : value.json();
  store_.finish_run(id, json);
}

void InterpretabilityBench::fail_run(int64_t id, const std::string& error) {
  close_run(id);
  store_.fail_run(id, error);
}

RunRecord InterpretabilityBench::last_run() const {
  if (last_run_ == 0) throw Error("last_run: this bench has not run an experiment yet");
  return store_.run(last_run_);
}

std::vector<double> InterpretabilityBench::metric(const std::string& name, const std::string& key,
                                                  const std::string& version) const {
  std::vector<double> values;
  for (const auto& run : store_.runs(name, version)) {
    if (run.status != "ok" || !run.results.is_object() || !run.results.contains(key)) continue;
    const auto& value = run.results[key];
    if (value.is_number()) {
      values.push_back(value.get<double>());
    } else if (value.is_array()) {
      for (const auto& v : value) {
        if (!v.is_number())
          throw Error(fmt::format("metric: result '{}' of run {} of '{}' holds a non-number ({})", key, run.id, name,
                                  v.dump()));
        values.push_back(v.get<double>());
      }
    } else {
      throw Error(fmt::format("metric: result '{}' of run {} of '{}' is not a number or a list of numbers ({})", key,
                              run.id, name, value.dump().substr(0, 80)));
    }
  }
  return values;
}

void InterpretabilityBench::set_plotting_lib(const std::string& backend) {
  plot_backend(backend);  // an unknown name fails here, listing the backends, not at the first plot
  plotting_lib_ = backend;
}

std::vector<Figure> InterpretabilityBench::plot_results(const std::vector<PlotSpec>& specs, const torch::Tensor& tokens,
                                                        const std::optional<std::filesystem::path>& file) {
  auto figures = arrakis::plot_results(*model_, specs, tokens);
  if (file) {
    const auto path = file->is_absolute() ? *file : save_dir() / *file;
    write_figures(path, figures, {.page_title = model_->config().model_name}, plotting_lib_);
  }
  return figures;
}

std::vector<Figure> InterpretabilityBench::plot_run(int64_t run_id, const std::vector<std::string>& keys) const {
  const auto record = run(run_id);
  NamedTensors tensors;
  for (const auto& key : keys) {
    if (!record.results.contains(key)) {
      std::vector<std::string> names;
      for (const auto& [name, _] : record.results.items()) names.push_back(name);
      throw Error(fmt::format("run {} of {} has no result '{}' (results: {})", run_id, record.experiment, key,
                              quoted_list(names)));
    }
    const auto& value = record.results[key];
    if (!is_tensor_reference(value))
      throw Error(fmt::format("run {} of {}: result '{}' is not a tensor ({}), nothing to plot", run_id,
                              record.experiment, key, value.dump()));
    tensors.emplace_back(key, load_tensor(value));
  }
  return plot_tensors(tensors, keys, fmt::format("{} (run {})", record.experiment, run_id));
}

}  // namespace arrakis
