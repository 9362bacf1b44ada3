#pragma once
// `arrakis bench patching`: activation-patching sweeps on a GPT-2-small-shaped model with random weights — resid_pre
// by layer × position, and head z over all positions — by the fast path and by the naive one full forward per cell,
// measured in the same run, with the largest difference between their results, and the fast path's speed on the work
// an exact sweep cannot avoid (PatchingResult::necessary_gflop) as a fraction of the best sgemm this process does.
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace arrakis {

struct PatchingBenchmarkOptions {
  int64_t n_layers = 12, d_model = 768, n_heads = 12, d_mlp = 3072, d_vocab = 50257, n_ctx = 1024;
  int64_t batch = 8, seq = 16;
  /// The corrupted prompts differ from the clean ones at this position only (a minimal pair, as in the IOI
  /// experiments, where one name token is swapped); -1: they differ at every position but the first.
  int64_t corrupt_position = 10;
  uint64_t seed = 0;
  std::function<void(const std::string&)> progress;  // one line per phase
};

struct PatchingSweepTiming {
  int64_t cells = 0;
  int64_t cells_unchanged = 0;  // fast path: cells whose source and target activations are equal (no forward)
  double naive_s = 0, fast_s = 0;
  double fast_first_s = 0;  // the first fast sweep in the process (oneDNN kernel generation, first touches)
  double naive_cells_per_s = 0, fast_cells_per_s = 0;
  double speedup = 0;            // naive_s / fast_s
  double max_abs_diff = 0;       // max |fast − naive| over the cells (must be <= 1e-5)
  double necessary_gflop = 0;    // the work no exact sweep can avoid
  double best_sgemm_gflops = 0;  // float32 sgemm 1024 x 768 x 3072 with the chosen kernels (median call), measured
                                 // just before and after the fast sweep
  double efficiency = 0;         // necessary_gflop / fast_s / best_sgemm_gflops (target >= 0.6)
};

struct PatchingBenchmarkResult {
  int threads = 0;
  std::string model;  // shape summary
  int64_t batch = 0, seq = 0, corrupt_position = 0;
  PatchingSweepTiming resid_pre, head_z;

  nlohmann::json to_json() const;
  std::string to_table() const;
};

PatchingBenchmarkResult run_patching_benchmark(const PatchingBenchmarkOptions& options);

}  // namespace arrakis
