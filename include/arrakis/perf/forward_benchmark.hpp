#pragma once
// `arrakis bench forward`: forward and run_with_cache throughput on a GPT-2-small-shaped model with random weights,
// beside the sgemm throughput of the same matrix shapes measured in the same run.
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace arrakis {

struct ForwardBenchmarkOptions {
  int64_t n_layers = 12, d_model = 768, n_heads = 12, d_mlp = 3072, d_vocab = 50257, n_ctx = 1024;
  int64_t batch = 8, seq = 128;
  int repeats = 5;         // timed runs of each kind (the median is reported), after one warm-up run
  uint64_t seed = 0;
  std::function<void(const std::string&)> progress;  // one line per phase
};

struct ForwardBenchmarkResult {
  int threads = 0;
  int hook_points = 0;
  double forward_s = 0, cache_s = 0;          // median seconds per forward
  double forward_tokens_per_s = 0, cache_tokens_per_s = 0;
  double forward_gflop = 0;                   // floating-point work of one forward (matmuls and attention)
  double forward_gflops = 0;                  // achieved by the forward
  double sgemm_gflops = 0;                    // achieved by bare matmuls of the forward's shapes
  double forward_vs_sgemm = 0;                // forward_gflops / sgemm_gflops (target >= 0.6)
  double cache_overhead = 0;                  // cache_s / forward_s - 1 (target <= 0.15)
  double cache_mb = 0;                        // bytes cached by one run_with_cache of every hook point
  double peak_rss_mb = 0;

  nlohmann::json to_json() const;
  std::string to_table() const;
};

ForwardBenchmarkResult run_forward_benchmark(const ForwardBenchmarkOptions& options);

/// Peak resident memory of this process so far, in MiB.
double peak_rss_mb();

}  // namespace arrakis
