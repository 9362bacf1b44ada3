#pragma once
// `arrakis bench load`: resident memory while loading a checkpoint, as float32 and as bfloat16, each measured in a
// fresh child process (a process's peak RSS cannot be reset reliably, and the OpenMP pool does not survive fork()).
// The default checkpoint is a GPT-2-small-shaped Hugging Face safetensors file with random weights.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace arrakis {

struct LoadMeasurement {
  std::string dtype;
  double baseline_rss_mb = 0;      // before loading (LibTorch initialised)
  double peak_rss_mb = 0;          // highest RSS up to the end of the load, minus the baseline
  double loaded_rss_mb = 0;        // RSS after the load, minus the baseline
  double forward_rss_mb = 0;       // RSS after one forward touched every weight, minus the baseline
  double forward_peak_rss_mb = 0;  // highest RSS up to the end of that forward, minus the baseline
  double weights_mb = 0;           // bytes of the model's parameters
  double load_s = 0;

  nlohmann::json to_json() const;
  static LoadMeasurement from_json(const nlohmann::json& j);
};

/// Loads `dir` as `dtype` in this process and measures it (the child side of the benchmark).
LoadMeasurement measure_load(const std::filesystem::path& dir, const std::string& dtype);

struct LoadBenchmarkOptions {
  std::optional<std::filesystem::path> model;  // a checkpoint folder; default: a generated GPT-2-small-shaped one
  int64_t n_layers = 12, d_model = 768, n_heads = 12, d_vocab = 50257, n_ctx = 1024;
  /// argv that runs one measurement in a child: the CLI passes {<its own path>, "bench", "load", "--child"} and
  /// the child gets "--model DIR --dtype D" appended; it prints LoadMeasurement::to_json() as its last line.
  std::vector<std::string> child_command;
  std::function<void(const std::string&)> progress;
};

struct LoadBenchmarkResult {
  std::string model;
  double file_mb = 0;  // the checkpoint's weight files
  LoadMeasurement float32, bfloat16;
  double float32_peak_over_file = 0;   // target <= 1.3 (never two copies of the weights)
  double bfloat16_resident_ratio = 0;  // bf16 / f32 resident weights after a forward (target ~0.5)

  nlohmann::json to_json() const;
  std::string to_table() const;
};

LoadBenchmarkResult run_load_benchmark(const LoadBenchmarkOptions& options);

/// Writes a Hugging Face GPT-2 checkpoint (config.json + model.safetensors, float32) with seeded random weights.
void write_random_gpt2_checkpoint(const std::filesystem::path& dir, const LoadBenchmarkOptions& shape, uint64_t seed);

}  // namespace arrakis
