// arrakis bench patching: fast activation-patching sweeps against one full forward per cell (same run).
#include <iostream>

#include "arrakis/benchmarks/patching_benchmark.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"

namespace arrakis::cli {

void register_bench_patching(CLI::App& bench) {
  auto options = std::make_shared<PatchingBenchmarkOptions>();
  auto json = std::make_shared<bool>(false);
  auto quick = std::make_shared<bool>(false);
  auto* cmd = bench.add_subcommand("patching",
                                   "Activation-patching sweeps (resid_pre by layer x position, head z): "
                                   "fast path against one full forward per cell");
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->add_flag("--quick", *quick, "A tiny model (2 layers, d_model 64, vocabulary 512) for checking that it runs");
  cmd->add_option("--layers", options->n_layers, "Layers (default 12)");
  cmd->add_option("--d-model", options->d_model, "Model width (default 768)");
  cmd->add_option("--heads", options->n_heads, "Heads (default 12)");
  cmd->add_option("--d-mlp", options->d_mlp, "MLP width (default 3072)");
  cmd->add_option("--vocab", options->d_vocab, "Vocabulary (default 50257)");
  cmd->add_option("--batch", options->batch, "Prompts (default 8)");
  cmd->add_option("--seq", options->seq, "Tokens per prompt (default 16)");
  cmd->add_option("--corrupt-position", options->corrupt_position,
                  "The one position where corrupted prompts differ from clean ones (default 10); -1: every position "
                  "but the first");
  cmd->callback([options, json, quick] {
    if (*quick) {
      options->n_layers = 2;
      options->d_model = 64;
      options->n_heads = 4;
      options->d_mlp = 256;
      options->d_vocab = 512;
      options->seq = std::min<int64_t>(options->seq, 8);
      options->corrupt_position = std::min<int64_t>(options->corrupt_position, 5);
    }
    options->progress = [](const std::string& line) { std::cerr << "bench: " << line << std::endl; };
    auto result = run_patching_benchmark(*options);
    emit(report_of(result.to_json(), result.to_table()), {.json = *json});
  });
}

}  // namespace arrakis::cli
