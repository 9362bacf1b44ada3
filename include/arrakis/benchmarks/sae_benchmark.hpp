#pragma once
// `arrakis bench sae`: sparse-autoencoder training throughput (activation rows per second) for a given width, against
// the machine's ceiling measured in the same run: float32 sgemm of the SAE's own encoder shape. A training step does
// six products of that size (encode, decode, and two for each one's backward), so its GFLOP/s over the sgemm's says how
// much of the machine the step uses; the rest is the activation, the loss and Adam.
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "arrakis/analysis/sparse_autoencoder.hpp"

namespace arrakis {

struct SaeBenchmarkOptions {
  int64_t d_in = 768, d_sae = 6144;  // GPT-2 small's residual stream, 8x expansion
  int64_t batch = 4096;              // rows per step
  int64_t steps = 10;                // timed steps per round
  int64_t repeats = 3;               // rounds (the median is reported)
  SaeArchitecture architecture = SaeArchitecture::TopK;
  int64_t k = 32;
  std::function<void(const std::string&)> progress;
};

struct SaeBenchmarkResult {
  int threads = 0;
  std::string architecture;
  int64_t d_in = 0, d_sae = 0, batch = 0, steps = 0;
  double tokens_per_second = 0;  // activation rows trained on per second (median round)
  double step_gflop = 0;         // 6 · 2 · batch · d_in · d_sae
  double training_gflops = 0;    // step_gflop × steps per second
  double sgemm_gflops = 0;       // [batch, d_in] × [d_in, d_sae], float32, median call, measured between rounds
  double training_vs_sgemm = 0;  // training_gflops / sgemm_gflops
  nlohmann::json to_json() const;
  std::string to_table() const;
};

SaeBenchmarkResult run_sae_benchmark(const SaeBenchmarkOptions& options);

}  // namespace arrakis
