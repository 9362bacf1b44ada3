#pragma once
// The options every model-loading command shares: --model DIR, --dtype, --device (one group, one parser).
#include <torch/types.h>
#include <CLI/CLI.hpp>

#include <string>

#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/model/loading.hpp"

namespace arrakis::cli {

struct ModelOptions {
  std::string model;
  std::string dtype = "float32";
  std::string device = "cpu";
};

/// Adds --model (required, described as `model_help`), --dtype and --device to `cmd`.
void add_model_options(CLI::App* cmd, ModelOptions& options, const std::string& model_help = "Model folder");
/// --dtype and --device only (commands whose model is not a folder, such as the demo's embedded one).
void add_dtype_device_options(CLI::App* cmd, ModelOptions& options);

/// "float32" | "bfloat16" | "float16" -> dtype; arrakis::Error naming --dtype and the valid values otherwise.
torch::Dtype parse_dtype(const std::string& name);
/// "cpu" | "cuda" | "cuda:N" -> device, checked to exist here; arrakis::Error naming --device and why otherwise.
torch::Device parse_device(const std::string& name);

/// load_pretrained(options.model) with the chosen dtype and device.
HookedTransformer load_model(const ModelOptions& options);
/// Moves an already built model to the chosen dtype and device.
void apply_dtype_device(HookedTransformer& model, const ModelOptions& options);

}  // namespace arrakis::cli
