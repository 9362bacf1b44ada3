#include "cli/model_options.hpp"

#include <fmt/format.h>
#include <torch/cuda.h>

#include <cctype>

#include "arrakis/error.hpp"

namespace arrakis::cli {

void add_dtype_device_options(CLI::App* cmd, ModelOptions& options) {
  cmd->add_option("--dtype", options.dtype, "Weights and activations: float32, bfloat16 or float16 (default float32)")
      ->group("Model");
  cmd->add_option("--device", options.device, "cpu, cuda or cuda:N (default cpu)")->group("Model");
}

void add_model_options(CLI::App* cmd, ModelOptions& options, const std::string& model_help) {
  cmd->add_option("--model", options.model, model_help + " (Hugging Face, TransformerLens or llama2.c)")
      ->required()
      ->group("Model");
  add_dtype_device_options(cmd, options);
}

torch::Dtype parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16" || name == "half") return torch::kFloat16;
  throw Error(fmt::format("--dtype {:?}: not a dtype Arrakis runs models in (use float32, bfloat16 or float16)", name));
}

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda" || name.starts_with("cuda:")) {
    int64_t index = 0;
    if (name.size() > 5) {
      const std::string digits = name.substr(5);
      if (digits.empty() || digits.size() > 3 ||
          !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); }))
        throw Error(fmt::format("--device {:?}: the CUDA device index must be a number (cuda:0, cuda:1, ...)", name));
      index = std::stoll(digits);
    }
    if (!torch::cuda::is_available())
      throw Error(
          fmt::format("--device {}: no CUDA device is available (this LibTorch {} CUDA); use --device cpu", name,
                      torch::cuda::device_count() == 0 ? "has no usable GPU or was built without" : "cannot reach"));
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (index >= count)
      throw Error(fmt::format("--device {}: there {} only {} CUDA device{} (cuda:0{})", name, count == 1 ? "is" : "are",
                              count, count == 1 ? "" : "s", count > 1 ? fmt::format(" .. cuda:{}", count - 1) : ""));
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error(fmt::format("--device {:?}: unknown device (use cpu, cuda or cuda:N)", name));
}

HookedTransformer load_model(const ModelOptions& options) {
  LoadOptions load;
  load.dtype = parse_dtype(options.dtype);
  load.device = parse_device(options.device);
  return load_pretrained(options.model, load);
}

void apply_dtype_device(HookedTransformer& model, const ModelOptions& options) {
  const auto dtype = parse_dtype(options.dtype);
  const auto device = parse_device(options.device);
  if (dtype != model.config().dtype) model.to(dtype);
  if (device != model.device()) model.to(device);
}

}  // namespace arrakis::cli
