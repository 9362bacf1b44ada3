#include "arrakis/benchmarks/sae_benchmark.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "arrakis/error.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "util/seconds_since.hpp"

namespace arrakis {

namespace {

double sae_bench_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

SaeBenchmarkResult run_sae_benchmark(const SaeBenchmarkOptions& o) {
  if (o.d_in < 1 || o.d_sae < 1 || o.batch < 1 || o.steps < 1 || o.repeats < 1)
    throw Error("bench sae: d_in, d_sae, batch, steps and repeats must be at least 1");
  SaeBenchmarkResult r;
  r.threads = torch::get_num_threads();
  r.architecture = sae_architecture_name(o.architecture);
  r.d_in = o.d_in;
  r.d_sae = o.d_sae;
  r.batch = o.batch;
  r.steps = o.steps;
  r.step_gflop =
      6.0 * 2.0 * static_cast<double>(o.batch) * static_cast<double>(o.d_in) * static_cast<double>(o.d_sae) / 1e9;
  // Training data: what it is does not change the cost; enough rows for a few batches.
  auto generator = seeded_generator(0);
  const auto rows = torch::randn({o.batch * 4, o.d_in}, generator, torch::kFloat32);
  const auto data = activations_in_memory("benchmark", rows);
  const auto a = torch::randn({o.batch, o.d_in}, generator, torch::kFloat32);
  const auto b = torch::randn({o.d_in, o.d_sae}, generator, torch::kFloat32);
  auto time_sgemm = [&] {
    std::vector<double> times;
    for (int i = 0; i < 5; ++i) {
      const auto start = std::chrono::steady_clock::now();
      auto c = torch::mm(a, b);
      times.push_back(seconds_since(start));
    }
    return 2.0 * static_cast<double>(o.batch * o.d_in * o.d_sae) / 1e9 / sae_bench_median(times);
  };
  if (o.progress)
    o.progress(fmt::format("training a {} SAE {} -> {} on batches of {}, {} rounds of {} steps, {} threads",
                           r.architecture, o.d_in, o.d_sae, o.batch, o.repeats, o.steps, r.threads));
  (void)train_sparse_autoencoder(data, {.architecture = o.architecture,
                                        .d_sae = o.d_sae,
                                        .k = o.k,
                                        .steps = 2,
                                        .batch_size = o.batch});  // warm-up: first touches, kernel choice
  std::vector<double> rates, sgemm;
  for (int64_t round = 0; round < o.repeats; ++round) {
    sgemm.push_back(time_sgemm());
    const auto start = std::chrono::steady_clock::now();
    (void)train_sparse_autoencoder(data, {.architecture = o.architecture,
                                          .d_sae = o.d_sae,
                                          .k = o.k,
                                          .steps = o.steps,
                                          .batch_size = o.batch,
                                          .seed = static_cast<uint64_t>(round)});
    rates.push_back(static_cast<double>(o.steps * o.batch) / seconds_since(start));
    sgemm.push_back(time_sgemm());
    if (o.progress) o.progress(fmt::format("round {}: {:.0f} rows/s", round + 1, rates.back()));
  }
  r.tokens_per_second = sae_bench_median(rates);
  r.training_gflops = r.step_gflop * r.tokens_per_second / static_cast<double>(o.batch);
  r.sgemm_gflops = sae_bench_median(sgemm);
  r.training_vs_sgemm = r.training_gflops / r.sgemm_gflops;
  return r;
}

nlohmann::json SaeBenchmarkResult::to_json() const {
  return {{"threads", threads},
          {"architecture", architecture},
          {"d_in", d_in},
          {"d_sae", d_sae},
          {"batch", batch},
          {"steps", steps},
          {"tokens_per_second", tokens_per_second},
          {"step_gflop", step_gflop},
          {"training_gflops", training_gflops},
          {"sgemm_gflops", sgemm_gflops},
          {"training_vs_sgemm", training_vs_sgemm}};
}

std::string SaeBenchmarkResult::to_table() const {
  return fmt::format(
      "SAE training ({} {} -> {}, batches of {}, {} threads)\n"
      "  throughput        {:>10.0f} rows/s\n"
      "  training          {:>10.1f} GFLOP/s ({:.2f} GFLOP per step: encode, decode and their backward)\n"
      "  sgemm ceiling     {:>10.1f} GFLOP/s ([{}, {}] x [{}, {}], float32, same run)\n"
      "  training / sgemm  {:>10.2f}\n",
      architecture, d_in, d_sae, batch, threads, tokens_per_second, training_gflops, step_gflop, sgemm_gflops, batch,
      d_in, d_in, d_sae, training_vs_sgemm);
}

}  // namespace arrakis
