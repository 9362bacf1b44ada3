#include "arrakis/benchmarks/patching_benchmark.hpp"

#include <fmt/format.h>

#include <chrono>

#include "arrakis/analysis/activation_patching.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/runtime/blas_kernel_choice.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "benchmarks/gpt2_shaped_config.hpp"
#include "util/seconds_since.hpp"

namespace arrakis {
namespace {

PatchingSweepTiming time_sweep(HookedTransformer& model, const PatchingRuns& runs, const Metric& metric,
                               ActivationPatchingOptions options, const std::function<void(const std::string&)>& say,
                               const std::string& what) {
  PatchingSweepTiming t;
  say(fmt::format("{}: fast path", what));
  options.method = PatchingMethod::Fast;
  // The first sweep in a process also pays for oneDNN generating its kernels for each new shape and for first
  // touches of memory; it is reported apart, and the timed sweep is the next one.
  auto start = std::chrono::steady_clock::now();
  activation_patching(model, runs, metric, options);
  t.fast_first_s = seconds_since(start);
  const double sgemm_before = measure_sgemm_gflops(0.3, SgemmStatistic::Median);
  start = std::chrono::steady_clock::now();
  auto fast = activation_patching(model, runs, metric, options);
  t.fast_s = seconds_since(start);
  t.best_sgemm_gflops = (sgemm_before + measure_sgemm_gflops(0.3, SgemmStatistic::Median)) / 2;
  t.necessary_gflop = fast.necessary_gflop;
  t.efficiency = t.necessary_gflop / t.fast_s / t.best_sgemm_gflops;
  say(fmt::format("{}: naive path (one full forward per cell, {} cells)", what, fast.cells));
  options.method = PatchingMethod::Naive;
  start = std::chrono::steady_clock::now();
  auto naive = activation_patching(model, runs, metric, options);
  t.naive_s = seconds_since(start);
  t.cells = fast.cells;
  t.cells_unchanged = fast.cells_unchanged;
  t.fast_cells_per_s = static_cast<double>(t.cells) / t.fast_s;
  t.naive_cells_per_s = static_cast<double>(t.cells) / t.naive_s;
  t.speedup = t.naive_s / t.fast_s;
  t.max_abs_diff = (fast.values - naive.values).abs().max().item<double>();
  return t;
}

nlohmann::json sweep_json(const PatchingSweepTiming& t) {
  return {{"cells", t.cells},
          {"cells_unchanged", t.cells_unchanged},
          {"naive_s", t.naive_s},
          {"fast_s", t.fast_s},
          {"fast_first_s", t.fast_first_s},
          {"naive_cells_per_s", t.naive_cells_per_s},
          {"fast_cells_per_s", t.fast_cells_per_s},
          {"speedup", t.speedup},
          {"max_abs_diff", t.max_abs_diff},
          {"necessary_gflop", t.necessary_gflop},
          {"best_sgemm_gflops", t.best_sgemm_gflops},
          {"efficiency", t.efficiency}};
}

}  // namespace

PatchingBenchmarkResult run_patching_benchmark(const PatchingBenchmarkOptions& o) {
  auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  if (o.seq < 2 || o.corrupt_position >= o.seq || o.corrupt_position == 0 || o.corrupt_position < -1)
    throw Error(fmt::format("bench patching: --corrupt-position {} must be -1 or 1..{} (--seq {})", o.corrupt_position,
                            o.seq - 1, o.seq));
  PatchingBenchmarkResult r;
  r.threads = torch::get_num_threads();
  r.batch = o.batch;
  r.seq = o.seq;
  r.corrupt_position = o.corrupt_position;

  const ModelConfig config = gpt2_shaped_config(o.n_layers, o.d_model, o.n_heads, o.d_mlp, o.d_vocab, o.n_ctx);
  r.model = fmt::format("{} layers, d_model {}, {} heads, d_mlp {}, vocabulary {}", o.n_layers, o.d_model, o.n_heads,
                        o.d_mlp, o.d_vocab);
  say(fmt::format("building a model with random weights: {}", r.model));
  HookedTransformer model(config, ModelWeights::random(config, o.seed));

  // Clean prompts, and corrupted ones that differ at one position (an IOI-style minimal pair) or everywhere but BOS.
  auto generator = seeded_generator(o.seed + 1);
  auto options = torch::TensorOptions().dtype(torch::kInt64);
  PatchingRuns runs;
  runs.clean_tokens = torch::randint(1, o.d_vocab, {o.batch, o.seq}, generator, options);
  runs.clean_tokens.select(1, 0).fill_(0);  // a shared BOS
  runs.corrupted_tokens = runs.clean_tokens.clone();
  if (o.corrupt_position > 0) {
    auto column = runs.corrupted_tokens.select(1, o.corrupt_position);
    column.copy_((column + torch::randint(0, o.d_vocab - 2, {o.batch}, generator, options)) % (o.d_vocab - 1) + 1);
  } else {
    auto rest = runs.corrupted_tokens.narrow(1, 1, o.seq - 1);
    rest.copy_(torch::randint(1, o.d_vocab, rest.sizes(), generator, options));
  }
  auto metric = logit_diff_metric(1, 2);  // logit difference of two fixed tokens at the last position
  const std::vector<int64_t> metric_tokens{1, 2};
  {
    torch::NoGradGuard no_grad;
    model(runs.clean_tokens);  // warm-up: first-touch allocations, BLAS threads
  }

  ActivationPatchingOptions resid;
  resid.component = PatchComponent::ResidPre;
  resid.metric_reads_last_position = true;
  resid.metric_reads_tokens = metric_tokens;
  r.resid_pre = time_sweep(model, runs, metric, resid, say, "resid_pre by layer x position");
  ActivationPatchingOptions z;
  z.component = PatchComponent::Z;
  z.metric_reads_last_position = true;
  z.metric_reads_tokens = metric_tokens;
  r.head_z = time_sweep(model, runs, metric, z, say, "head z over all positions");
  return r;
}

nlohmann::json PatchingBenchmarkResult::to_json() const {
  return {{"threads", threads},
          {"model", model},
          {"batch", batch},
          {"seq", seq},
          {"corrupt_position", corrupt_position},
          {"resid_pre", sweep_json(resid_pre)},
          {"head_z", sweep_json(head_z)},
          {"resid_pre_speedup", resid_pre.speedup},
          {"head_z_speedup", head_z.speedup},
          {"resid_pre_necessary_gflop", resid_pre.necessary_gflop},
          {"head_z_necessary_gflop", head_z.necessary_gflop},
          {"resid_pre_efficiency", resid_pre.efficiency},
          {"head_z_efficiency", head_z.efficiency},
          {"max_abs_diff", std::max(resid_pre.max_abs_diff, head_z.max_abs_diff)}};
}

std::string PatchingBenchmarkResult::to_table() const {
  std::string out = fmt::format("model: {}; {} prompts x {} tokens; corrupted {}; threads {}\n", model, batch, seq,
                                corrupt_position > 0 ? fmt::format("at position {} only", corrupt_position)
                                                     : std::string("at every position but the first"),
                                threads);
  auto row = [&](const char* name, const PatchingSweepTiming& t) {
    out += fmt::format(
        "{:<30} {:>4} cells ({} unchanged)  naive {:7.2f} s  fast {:6.2f} s (first in the process "
        "{:.2f} s)  speedup {:5.1f}x  max|fast-naive| {:.1e}\n{:<30} necessary work {:6.1f} GFLOP: "
        "{:6.1f} GFLOP/s = {:.2f} of the best sgemm ({:.0f} GFLOP/s)\n",
        name, t.cells, t.cells_unchanged, t.naive_s, t.fast_s, t.fast_first_s, t.speedup, t.max_abs_diff, "",
        t.necessary_gflop, t.necessary_gflop / t.fast_s, t.efficiency, t.best_sgemm_gflops);
  };
  row("resid_pre by layer x position", resid_pre);
  row("head z over all positions", head_z);
  out += fmt::format(
      "resid_pre_speedup {:.1f} (target >= 20)  head_z_speedup {:.1f} (target >= 8.5)  efficiency "
      "{:.2f} / {:.2f} (target >= 0.6)\n",
      resid_pre.speedup, head_z.speedup, resid_pre.efficiency, head_z.efficiency);
  return out;
}

}  // namespace arrakis
