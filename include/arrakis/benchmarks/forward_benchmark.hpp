#pragma once
// `arrakis bench forward`: forward and run_with_cache throughput on a GPT-2-small-shaped model with random weights,
// against the machine's real ceiling: float32 sgemm of exactly the forward's matrix shapes with the BLAS kernels this
// process chose (runtime/blas_kernel_choice.hpp), measured interleaved with the forwards in the same run, and checked
// against the same sgemm in a separate process that forces those kernels through OpenBLAS' own environment variable.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace arrakis {

struct ForwardBenchmarkOptions {
  int64_t n_layers = 12, d_model = 768, n_heads = 12, d_mlp = 3072, d_vocab = 50257, n_ctx = 1024;
  int64_t batch = 8, seq = 128;
  torch::Dtype dtype = torch::kFloat32;  // the model's dtype (the sgemm ceiling is float32 either way)
  int repeats = 7;                       // timed rounds (medians are reported), after one warm-up round
  uint64_t seed = 0;
  /// `arrakis bench sgemm` as argv: the separate-process check of the sgemm ceiling (skipped when empty).
  std::vector<std::string> sgemm_child_command;
  std::function<void(const std::string&)> progress;  // one line per phase
};

struct ForwardBenchmarkResult {
  int threads = 0;
  int hook_points = 0;
  std::string dtype;
  std::string blas;  // "OpenBLAS 0.3.21, Cooperlake kernels (measured fastest ...)"
  std::string blas_core;
  double forward_s = 0, cache_s = 0;  // median seconds per forward
  double forward_tokens_per_s = 0, cache_tokens_per_s = 0;
  double forward_gflop = 0;                   // floating-point work of one forward (matmuls and attention)
  double forward_gflops = 0;                  // achieved by the forward
  double best_sgemm_gflops = 0;               // float32 sgemm of the forward's shapes, best kernels, same run
  double forward_vs_best_sgemm = 0;           // forward GFLOP/s over sgemm GFLOP/s, median of the rounds' ratios
                                              // (target >= 0.85)
  double cache_overhead = 0;                  // run_with_cache time over forward time - 1, median of the rounds'
                                              // ratios (target <= 0.10)
  double profile_overhead = 0;                // profile_model's forward (every component timed) over a plain
                                              // forward - 1, median of the rounds' ratios (target <= 0.10)
  double cache_mb = 0;                        // bytes cached by one run_with_cache of every hook point
  double separate_process_sgemm_gflops = 0;   // the same sgemm in a fresh process with OPENBLAS_CORETYPE forced
  double best_sgemm_vs_separate_process = 0;  // best_sgemm_gflops / separate_process_sgemm_gflops (~1)
  double peak_rss_mb = 0;

  nlohmann::json to_json() const;
  std::string to_table() const;
};

ForwardBenchmarkResult run_forward_benchmark(const ForwardBenchmarkOptions& options);

/// `arrakis bench sgemm`: float32 sgemm GFLOP/s of the forward's matrix shapes alone (median of `repeats` rounds),
/// with whatever kernels this process uses; JSON {"sgemm_gflops", "blas_core"}.
nlohmann::json run_sgemm_benchmark(const ForwardBenchmarkOptions& options);

/// Peak resident memory of this process so far, in MiB.
double peak_rss_mb();

}  // namespace arrakis
