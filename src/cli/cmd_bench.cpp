// arrakis bench forward: forward / run_with_cache throughput against sgemm of the same shapes (same run);
// arrakis bench load: resident memory while loading a checkpoint; arrakis bench sae: SAE training throughput against
// sgemm of its encoder shape; `bench patching` lives in cmd_bench_patching.cpp.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "arrakis/benchmarks/forward_benchmark.hpp"
#include "arrakis/benchmarks/load_benchmark.hpp"
#include "arrakis/benchmarks/sae_benchmark.hpp"
#include "cli/command_output.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/validators.hpp"

namespace arrakis::cli {

void register_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench",
                                   "Performance benchmarks (each prints ratios against a baseline measured "
                                   "in the same run)");
  bench->require_subcommand(1);
  register_bench_patching(*bench);
  auto sae = std::make_shared<SaeBenchmarkOptions>();
  auto sae_json = std::make_shared<bool>(false);
  auto sae_architecture = std::make_shared<std::string>("topk");
  auto* sae_cmd = bench->add_subcommand("sae",
                                        "Sparse-autoencoder training throughput against float32 sgemm of its encoder "
                                        "shape (same run)");
  sae_cmd->add_flag("--json", *sae_json, "Print one JSON object");
  sae_cmd->add_option("--d-in", sae->d_in, "Activation width")->capture_default_str();
  sae_cmd->add_option("--d-sae", sae->d_sae, "Features")->capture_default_str();
  sae_cmd->add_option("--batch", sae->batch, "Rows per step")->capture_default_str();
  sae_cmd->add_option("--steps", sae->steps, "Timed steps per round")->capture_default_str();
  sae_cmd->add_option("--repeats", sae->repeats, "Rounds")->check(integer_in(1, 1000))->capture_default_str();
  sae_cmd->add_option("--architecture", *sae_architecture, "relu, topk or jumprelu")->capture_default_str();
  sae_cmd->add_option("--k", sae->k, "TopK: features per row")->capture_default_str();
  sae_cmd->callback([sae, sae_json, sae_architecture] {
    sae->architecture = parse_sae_architecture(*sae_architecture);
    sae->progress = [](const std::string& line) { std::cerr << "bench: " << line << std::endl; };
    auto result = run_sae_benchmark(*sae);
    emit(report_of(result.to_json(), result.to_table()), {.json = *sae_json});
  });
  auto options = std::make_shared<ForwardBenchmarkOptions>();
  auto json = std::make_shared<bool>(false);
  auto dtype = std::make_shared<std::string>("float32");
  auto add_shape_options = [options](CLI::App* cmd) {
    cmd->add_option("--layers", options->n_layers, "Layers (default 12)");
    cmd->add_option("--d-model", options->d_model, "Model width (default 768)");
    cmd->add_option("--heads", options->n_heads, "Heads (default 12)");
    cmd->add_option("--d-mlp", options->d_mlp, "MLP width (default 3072)");
    cmd->add_option("--vocab", options->d_vocab, "Vocabulary (default 50257)");
    cmd->add_option("--batch", options->batch, "Sequences (default 8)");
    cmd->add_option("--seq", options->seq, "Tokens per sequence (default 128)");
    cmd->add_option("--repeats", options->repeats, "Timed rounds (default 7)")->check(integer_in(1, 1000));
  };
  auto* forward = bench->add_subcommand("forward",
                                        "Forward and run_with_cache on a GPT-2-small-shaped model, "
                                        "against float32 sgemm of the same shapes");
  forward->add_flag("--json", *json, "Print one JSON object");
  forward->add_option("--dtype", *dtype, "The model's dtype: float32, bfloat16 or float16 (default float32)")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
  add_shape_options(forward);
  forward->callback([options, json, dtype] {
    options->progress = [](const std::string& line) { std::cerr << "bench: " << line << std::endl; };
    options->dtype = parse_dtype(*dtype);
    // The separate-process check of the sgemm ceiling: this program, `bench sgemm` with the same shapes.
    options->sgemm_child_command = {std::filesystem::read_symlink("/proc/self/exe").string(), "bench", "sgemm",
                                    "--json"};
    for (const auto& [flag, value] : {std::pair{"--layers", options->n_layers},
                                      {"--d-model", options->d_model},
                                      {"--heads", options->n_heads},
                                      {"--d-mlp", options->d_mlp},
                                      {"--vocab", options->d_vocab},
                                      {"--batch", options->batch},
                                      {"--seq", options->seq}}) {
      options->sgemm_child_command.emplace_back(flag);
      options->sgemm_child_command.push_back(std::to_string(value));
    }
    auto result = run_forward_benchmark(*options);
    emit(report_of(result.to_json(), result.to_table()), {.json = *json});
  });
  auto* sgemm = bench->add_subcommand("sgemm",
                                      "Float32 sgemm of the forward benchmark's matrix shapes alone, with "
                                      "this process' BLAS kernels");
  sgemm->add_flag("--json", *json, "Print one JSON object (the only output)");
  add_shape_options(sgemm);
  sgemm->callback([options] { emit(report_of(run_sgemm_benchmark(*options), {}), {.json = true}); });

  auto load_options = std::make_shared<LoadBenchmarkOptions>();
  auto load_json = std::make_shared<bool>(false);
  auto child = std::make_shared<bool>(false);
  auto child_dtype = std::make_shared<std::string>("float32");
  auto model_dir = std::make_shared<std::string>();
  auto* load = bench->add_subcommand("load", "Resident memory while loading a checkpoint as float32 and bfloat16");
  load->add_flag("--json", *load_json, "Print one JSON object");
  load->add_option("--model", *model_dir, "Checkpoint folder (default: a generated GPT-2-small-shaped one)");
  load->add_option("--layers", load_options->n_layers, "Layers of the generated checkpoint (default 12)");
  load->add_option("--d-model", load_options->d_model, "Width of the generated checkpoint (default 768)");
  load->add_option("--heads", load_options->n_heads, "Heads of the generated checkpoint (default 12)");
  load->add_option("--vocab", load_options->d_vocab, "Vocabulary of the generated checkpoint (default 50257)");
  // The measurement itself runs in a fresh process: `bench load --child --model DIR --dtype D`.
  load->add_flag("--child", *child)->group("");
  load->add_option("--dtype", *child_dtype)->group("");
  load->callback([=] {
    if (*child) {
      emit(report_of(measure_load(*model_dir, *child_dtype).to_json(), {}), {.json = true});
      return;
    }
    if (!model_dir->empty()) load_options->model = *model_dir;
    // The shell popen() starts would read /proc/self/exe as itself: name this program by its real path.
    load_options->child_command = {std::filesystem::read_symlink("/proc/self/exe").string(), "bench", "load",
                                   "--child"};
    load_options->progress = [](const std::string& line) { std::cerr << "bench: " << line << std::endl; };
    auto result = run_load_benchmark(*load_options);
    emit(report_of(result.to_json(), result.to_table()), {.json = *load_json});
  });
}

}  // namespace arrakis::cli
