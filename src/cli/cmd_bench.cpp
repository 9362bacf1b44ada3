// arrakis bench forward: forward / run_with_cache throughput against sgemm of the same shapes (same run).
#include <fmt/format.h>

#include <iostream>

#include "arrakis/perf/forward_benchmark.hpp"
#include "cli/commands.hpp"

namespace arrakis::cli {

void register_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Performance benchmarks (each prints ratios against a baseline measured "
                                            "in the same run)");
  bench->require_subcommand(1);
  auto options = std::make_shared<ForwardBenchmarkOptions>();
  auto json = std::make_shared<bool>(false);
  auto* forward = bench->add_subcommand("forward", "Forward and run_with_cache on a GPT-2-small-shaped model");
  forward->add_flag("--json", *json, "Print one JSON object");
  forward->add_option("--layers", options->n_layers, "Layers (default 12)");
  forward->add_option("--d-model", options->d_model, "Model width (default 768)");
  forward->add_option("--heads", options->n_heads, "Heads (default 12)");
  forward->add_option("--d-mlp", options->d_mlp, "MLP width (default 3072)");
  forward->add_option("--vocab", options->d_vocab, "Vocabulary (default 50257)");
  forward->add_option("--batch", options->batch, "Sequences (default 8)");
  forward->add_option("--seq", options->seq, "Tokens per sequence (default 128)");
  forward->add_option("--repeats", options->repeats, "Timed runs of each kind (default 5)")->check(CLI::PositiveNumber);
  forward->callback([options, json] {
    options->progress = [](const std::string& line) { std::cerr << "bench: " << line << std::endl; };
    auto result = run_forward_benchmark(*options);
    if (*json) std::cout << result.to_json().dump() << "\n";
    else std::cout << result.to_table();
  });
}

}  // namespace arrakis::cli
