#include "cli/activation_options.hpp"

#include <fmt/format.h>

#include <chrono>
#include <iostream>

#include "arrakis/error.hpp"

namespace arrakis::cli {

void add_activation_source_options(CLI::App* cmd, ActivationSourceOptions& options, bool with_dataset) {
  if (with_dataset)
    cmd->add_option("--dataset", options.dataset,
                    "A stored activation dataset (a folder `arrakis activations collect` wrote)");
  cmd->add_option("--hook", options.hook, "The hook point, e.g. blocks.0.hook_resid_post");
  cmd->add_option("--tokens", options.tokens,
                  "Token source: FILE.safetensors (token ids), a text file (tokenized by the model), or "
                  "generate[:SEED] (text the model samples)")
      ->capture_default_str();
  cmd->add_option("--n-tokens", options.n_tokens, "Activation rows (tokens) to collect")->capture_default_str();
  cmd->add_option("--context-length", options.context_length,
                  "Tokens per context (default: the model's n_ctx, at most 128)");
  cmd->add_option("--memory-mib", options.memory_mib, "Memory the collection may hold at once, MiB")
      ->capture_default_str();
}

ActivationDataset activations_from(HookedTransformer& model, const ActivationSourceOptions& options,
                                   const std::string& hook, std::optional<std::string> out, torch::Dtype dtype) {
  if (options.dataset) {
    auto data = ActivationDataset::open(*options.dataset);
    if (!hook.empty() && data.hook() != hook)
      throw Error(fmt::format("--dataset {} holds {}, not {}", *options.dataset, data.hook(), hook));
    if (!options.hook.empty() && data.hook() != options.hook)
      throw Error(fmt::format("--dataset {} holds {}, not the --hook {}", *options.dataset, data.hook(), options.hook));
    return data;
  }
  std::string point = options.hook.empty() ? hook : options.hook;
  if (point.empty()) throw Error("give --hook (the hook point to collect) or --dataset");
  if (!hook.empty() && point != hook) throw Error(fmt::format("--hook {} is not the SAE's hook point {}", point, hook));
  if (!(options.memory_mib >= 1)) throw Error(fmt::format("--memory-mib {} is below 1", options.memory_mib));
  auto start = std::chrono::steady_clock::now();
  int last_decile = -1;
  std::string last_phase;
  ActivationCollectionOptions collect{.hook = point,
                                      .tokens = TokenSource::parse(options.tokens),
                                      .n_tokens = options.n_tokens,
                                      .context_length = options.context_length,
                                      .memory_budget = static_cast<int64_t>(options.memory_mib * 1048576.0),
                                      .dtype = dtype};
  if (out) collect.out = *out;
  collect.progress = [&](std::string_view phase, int64_t done, int64_t total) {
    const int decile = static_cast<int>(10 * done / total);
    if (phase == last_phase && decile == last_decile) return;
    if (phase != last_phase) start = std::chrono::steady_clock::now();
    last_phase = phase;
    last_decile = decile;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (phase == "sampling")
      std::cerr << fmt::format("activations: sampled {} of {} contexts ({:.0f}%)", done, total, 100.0 * done / total)
                << std::endl;
    else
      std::cerr << fmt::format("activations: {} of {} rows of {} ({:.0f}%, {:.0f} tokens/s)", done, total, point,
                               100.0 * done / total, seconds > 0 ? done / seconds : 0.0)
                << std::endl;
  };
  return collect_activations(model, collect);
}

}  // namespace arrakis::cli
