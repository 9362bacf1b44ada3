#pragma once
// The `arrakis` subcommands; each file registers one.
#include <CLI/CLI.hpp>

namespace arrakis::cli {

void register_run(CLI::App& app);
void register_generate(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_bench(CLI::App& app);
void register_bench_patching(CLI::App& bench);  // `bench patching`, under `bench`
void register_patch(CLI::App& app);
void register_heads(CLI::App& app);
void register_lens(CLI::App& app);
void register_attribute(CLI::App& app);
void register_demo(CLI::App& app);
void register_experiments(CLI::App& app);
void register_train_demo_model(CLI::App& app);
void register_doctor(CLI::App& app);
void register_hooks(CLI::App& app);
void register_tools(CLI::App& app);  // `tools` and `tool`
void register_plot(CLI::App& app);
void register_activations(CLI::App& app);  // `activations collect`
void register_sae(CLI::App& app);          // `sae train|eval|features`
void register_prompts(CLI::App& app);      // `prompts ioi`

}  // namespace arrakis::cli
