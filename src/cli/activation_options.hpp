#pragma once
// The options of commands that read a hook point's activations over many tokens (`activations collect`, `sae ...`):
// a stored dataset (--dataset DIR), or a token source collected now (--hook, --tokens, --n-tokens, --context-length).
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "arrakis/analysis/activation_dataset.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis::cli {

struct ActivationSourceOptions {
  std::optional<std::string> dataset;
  std::string hook;
  std::string tokens = "generate";
  int64_t n_tokens = 16384;
  int64_t context_length = 0;
  double memory_mib = 1024;
};

/// Adds --dataset (unless `with_dataset` is false), --hook, --tokens, --n-tokens, --context-length, --memory-mib.
void add_activation_source_options(CLI::App* cmd, ActivationSourceOptions& options, bool with_dataset = true);

/// The dataset named by --dataset, or the activations of --hook collected now (to `out` when given), with progress
/// on stderr. `hook`, when not empty, is what the dataset must hold (an SAE's hook point).
ActivationDataset activations_from(HookedTransformer& model, const ActivationSourceOptions& options,
                                   const std::string& hook = {}, std::optional<std::string> out = std::nullopt,
                                   torch::Dtype dtype = torch::kFloat32);

}  // namespace arrakis::cli
