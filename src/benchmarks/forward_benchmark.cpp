#include "arrakis/benchmarks/forward_benchmark.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "arrakis/experiments/model_profiler.hpp"
#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/runtime/blas_kernel_choice.hpp"
#include "arrakis/runtime/blas_library.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "benchmarks/child_process.hpp"
#include "benchmarks/gpt2_shaped_config.hpp"
#include "util/seconds_since.hpp"

namespace arrakis {
namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

using Shape = std::tuple<int64_t, int64_t, int64_t>;  // (m, k, n)

// The matmuls one forward runs: (m, k, n) -> how many times.
std::map<Shape, int64_t> forward_matmuls(const ForwardBenchmarkOptions& o) {
  const int64_t rows = o.batch * o.seq;
  std::map<Shape, int64_t> shapes;
  shapes[{rows, o.d_model, o.d_model}] += 4 * o.n_layers;  // q, k, v, output projection
  shapes[{rows, o.d_model, o.d_mlp}] += o.n_layers;
  shapes[{rows, o.d_mlp, o.d_model}] += o.n_layers;
  shapes[{rows, o.d_model, o.d_vocab}] += 1;  // unembedding
  return shapes;
}

double gemm_flop(const ForwardBenchmarkOptions& o) {
  double flop = 0;
  for (const auto& [shape, count] : forward_matmuls(o)) {
    auto [m, k, n] = shape;
    flop += 2.0 * m * k * n * count;
  }
  return flop;
}

// Bare float32 matmuls of the forward's shapes into preallocated outputs: the ceiling the forward is held against.
class SgemmShapes {
 public:
  explicit SgemmShapes(const ForwardBenchmarkOptions& o) {
    auto generator = seeded_generator(o.seed + 2);
    for (const auto& [shape, count] : forward_matmuls(o)) {
      auto [m, k, n] = shape;
      Operands x{torch::randn({m, k}, generator), torch::randn({k, n}, generator), torch::empty({m, n}), count};
      torch::mm_out(x.c, x.a, x.b);  // warm-up
      operands_.push_back(std::move(x));
    }
    flop_ = gemm_flop(o);
  }
  /// Seconds for one forward's worth of matmuls (each shape timed once, warm, times its count).
  double time_once() {
    double seconds = 0;
    for (auto& x : operands_) {
      torch::mm_out(x.c, x.a, x.b);  // warm: the forward before this left other data in the caches
      auto start = std::chrono::steady_clock::now();
      torch::mm_out(x.c, x.a, x.b);
      seconds += seconds_since(start) * static_cast<double>(x.count);
    }
    return seconds;
  }
  double flop() const { return flop_; }

 private:
  struct Operands {
    torch::Tensor a, b, c;
    int64_t count;
  };
  std::vector<Operands> operands_;
  double flop_ = 0;
};

std::string blas_summary(const BlasKernelChoice& choice) {
  const auto blas = detect_blas_library();
  return fmt::format("{} {}{}", to_string(blas.kind), blas.version,
                     blas.core.empty() ? "" : fmt::format(", {} kernels ({})", blas.core, choice.reason));
}

}  // namespace

double peak_rss_mb() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

nlohmann::json run_sgemm_benchmark(const ForwardBenchmarkOptions& o) {
  torch::NoGradGuard no_grad;
  SgemmShapes sgemm(o);
  std::vector<double> times;
  for (int i = 0; i < std::max(o.repeats, 3); ++i) times.push_back(sgemm.time_once());
  return {{"sgemm_gflops", sgemm.flop() / 1e9 / median(times)}, {"blas_core", detect_blas_library().core}};
}

ForwardBenchmarkResult run_forward_benchmark(const ForwardBenchmarkOptions& o) {
  torch::NoGradGuard no_grad;
  auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  ForwardBenchmarkResult r;
  r.threads = torch::get_num_threads();
  const auto& choice = select_blas_kernel();
  r.blas = blas_summary(choice);
  r.blas_core = detect_blas_library().core;

  const ModelConfig config = gpt2_shaped_config(o.n_layers, o.d_model, o.n_heads, o.d_mlp, o.d_vocab, o.n_ctx);
  r.dtype = o.dtype == torch::kBFloat16 ? "bfloat16" : o.dtype == torch::kFloat16 ? "float16" : "float32";
  say(fmt::format("building a {}-layer d_model {} model with random weights ({})", o.n_layers, o.d_model, r.dtype));
  HookedTransformer model(config, ModelWeights::random(config, o.seed));
  if (o.dtype != torch::kFloat32) model.to(o.dtype);
  r.hook_points = static_cast<int>(model.hook_names().size());
  auto generator = seeded_generator(o.seed + 1);
  auto tokens = torch::randint(0, o.d_vocab, {o.batch, o.seq}, generator, torch::TensorOptions().dtype(torch::kInt64));

  // FLOPs: 2mkn per matmul, plus q.k and pattern.v (2 x 2 * batch * heads * seq^2 * d_head per layer).
  const double attention_flop = 4.0 * o.batch * o.n_heads * o.seq * o.seq * config.d_head * o.n_layers;
  r.forward_gflop = (gemm_flop(o) + attention_flop) / 1e9;

  say(
      fmt::format("timing forward, run_with_cache of all {} hook points, the profiler's forward and bare sgemm of "
                  "the same shapes, interleaved ({} x {} tokens, {} rounds)",
                  r.hook_points, o.batch, o.seq, o.repeats));
  SgemmShapes sgemm(o);
  model(tokens);  // warm-up: first-touch allocations, BLAS thread start
  {
    auto warm = model.run_with_cache(tokens);
    r.cache_mb = static_cast<double>(warm.second.nbytes()) / (1 << 20);
  }
  // Interleaved, and each ratio taken within one round, so drift in the machine's speed (other tenants of the host
  // move it by +-10% within seconds here) hits both sides of a ratio alike.
  std::vector<double> forward_times, cache_times, sgemm_times, forward_ratios, cache_ratios, profile_ratios;
  for (int i = 0; i < o.repeats; ++i) {
    const double sgemm_before = sgemm.time_once();
    auto start = std::chrono::steady_clock::now();
    { auto logits = model(tokens); }
    forward_times.push_back(seconds_since(start));
    sgemm_times.push_back((sgemm_before + sgemm.time_once()) / 2);  // on both sides of the forward it is held against
    start = std::chrono::steady_clock::now();
    { auto cached = model.run_with_cache(tokens); }
    cache_times.push_back(seconds_since(start));
    forward_ratios.push_back(sgemm_times.back() / forward_times.back() * r.forward_gflop * 1e9 / sgemm.flop());
    cache_ratios.push_back(cache_times.back() / forward_times.back());
    // The profiler's components (synchronised at each boundary) add up to its forward's wall time exactly; this is
    // what timing them costs over a plain forward.
    const auto profile = profile_model(model, tokens, {.repeats = 1, .warmup = 0});
    profile_ratios.push_back(profile.forward_seconds / forward_times.back());
  }
  r.forward_s = median(forward_times);
  r.cache_s = median(cache_times);
  r.best_sgemm_gflops = sgemm.flop() / 1e9 / median(sgemm_times);

  if (!o.sgemm_child_command.empty() && !r.blas_core.empty()) {
    say(fmt::format("the same sgemm in a separate process with OPENBLAS_CORETYPE={} forced", r.blas_core));
    // Twice, keeping the faster: a burst of load elsewhere on the host can slow one short run.
    for (int i = 0; i < 2; ++i) {
      auto child = run_child_for_json(o.sgemm_child_command,
                                      {"OPENBLAS_CORETYPE=" + r.blas_core, "ARRAKIS_KEEP_CORETYPE=1"}, "bench sgemm");
      r.separate_process_sgemm_gflops =
          std::max(r.separate_process_sgemm_gflops, child.at("sgemm_gflops").get<double>());
    }
    r.best_sgemm_vs_separate_process = r.best_sgemm_gflops / r.separate_process_sgemm_gflops;
  }

  const double n_tokens = static_cast<double>(o.batch * o.seq);
  r.forward_tokens_per_s = n_tokens / r.forward_s;
  r.cache_tokens_per_s = n_tokens / r.cache_s;
  r.forward_gflops = r.forward_gflop / r.forward_s;
  r.forward_vs_best_sgemm = median(forward_ratios);
  r.cache_overhead = median(cache_ratios) - 1.0;
  r.profile_overhead = median(profile_ratios) - 1.0;
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

nlohmann::json ForwardBenchmarkResult::to_json() const {
  return {{"threads", threads},
          {"hook_points", hook_points},
          {"dtype", dtype},
          {"blas", blas},
          {"blas_core", blas_core},
          {"forward_s", forward_s},
          {"cache_s", cache_s},
          {"forward_tokens_per_s", forward_tokens_per_s},
          {"cache_tokens_per_s", cache_tokens_per_s},
          {"forward_gflop", forward_gflop},
          {"forward_gflops", forward_gflops},
          {"best_sgemm_gflops", best_sgemm_gflops},
          {"sgemm_gflops", best_sgemm_gflops},
          {"forward_vs_best_sgemm", forward_vs_best_sgemm},
          {"cache_overhead", cache_overhead},
          {"profile_overhead", profile_overhead},
          {"cache_mb", cache_mb},
          {"separate_process_sgemm_gflops", separate_process_sgemm_gflops},
          {"best_sgemm_vs_separate_process", best_sgemm_vs_separate_process},
          {"peak_rss_mb", peak_rss_mb}};
}

std::string ForwardBenchmarkResult::to_table() const {
  std::string s;
  s += fmt::format("blas              {}\n", blas);
  s += fmt::format("forward           {:8.3f} s   {:9.0f} tokens/s   {:6.1f} GFLOP/s ({:.1f} GFLOP, {})\n", forward_s,
                   forward_tokens_per_s, forward_gflops, forward_gflop, dtype);
  s += fmt::format("run_with_cache    {:8.3f} s   {:9.0f} tokens/s   all {} hook points, {:.0f} MB cached\n", cache_s,
                   cache_tokens_per_s, hook_points, cache_mb);
  s += fmt::format("best sgemm, same shapes       {:6.1f} GFLOP/s (float32, interleaved with the forwards)\n",
                   best_sgemm_gflops);
  if (separate_process_sgemm_gflops > 0)
    s += fmt::format("  in a separate process       {:6.1f} GFLOP/s (OPENBLAS_CORETYPE={} forced)  ratio {:.2f}\n",
                     separate_process_sgemm_gflops, blas_core, best_sgemm_vs_separate_process);
  s += fmt::format("forward / best sgemm {:5.2f}     (target >= 0.85)  {}\n", forward_vs_best_sgemm,
                   forward_vs_best_sgemm >= 0.85 ? "ok" : "BELOW TARGET");
  s += fmt::format("cache overhead    {:+8.1f}%    (target <= 10%)   {}\n", 100 * cache_overhead,
                   cache_overhead <= 0.10 ? "ok" : "ABOVE TARGET");
  s += fmt::format("profiler overhead {:+8.1f}%    (target <= 10%)   {}\n", 100 * profile_overhead,
                   profile_overhead <= 0.10 ? "ok" : "ABOVE TARGET");
  s += fmt::format("peak RSS          {:8.0f} MB   threads {}\n", peak_rss_mb, threads);
  return s;
}

}  // namespace arrakis
