#include "arrakis/perf/forward_benchmark.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "arrakis/model/hooked_transformer.hpp"
#include "perf/gpt2_shaped_config.hpp"

namespace arrakis {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The matmuls one forward runs: (m, k, n) -> how many times.
std::map<std::tuple<int64_t, int64_t, int64_t>, int64_t> forward_matmuls(const ForwardBenchmarkOptions& o) {
  const int64_t rows = o.batch * o.seq;
  std::map<std::tuple<int64_t, int64_t, int64_t>, int64_t> shapes;
  shapes[{rows, o.d_model, o.d_model}] += 4 * o.n_layers;  // q, k, v, output projection
  shapes[{rows, o.d_model, o.d_mlp}] += o.n_layers;
  shapes[{rows, o.d_mlp, o.d_model}] += o.n_layers;
  shapes[{rows, o.d_model, o.d_vocab}] += 1;               // unembedding
  return shapes;
}

}  // namespace

double peak_rss_mb() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

ForwardBenchmarkResult run_forward_benchmark(const ForwardBenchmarkOptions& o) {
  torch::NoGradGuard no_grad;
  auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  ForwardBenchmarkResult r;
  r.threads = torch::get_num_threads();

  const ModelConfig config = gpt2_shaped_config(o.n_layers, o.d_model, o.n_heads, o.d_mlp, o.d_vocab, o.n_ctx);
  say(fmt::format("building a {}-layer d_model {} model with random weights", o.n_layers, o.d_model));
  HookedTransformer model(config, ModelWeights::random(config, o.seed));
  r.hook_points = static_cast<int>(model.hook_names().size());
  auto generator = at::detail::createCPUGenerator(o.seed + 1);
  auto tokens = torch::randint(0, o.d_vocab, {o.batch, o.seq}, generator, torch::TensorOptions().dtype(torch::kInt64));

  // FLOPs: 2mkn per matmul, plus q.k and pattern.v (2 x 2 * batch * heads * seq^2 * d_head per layer).
  double gemm_flop = 0;
  for (const auto& [shape, count] : forward_matmuls(o)) {
    auto [m, k, n] = shape;
    gemm_flop += 2.0 * m * k * n * count;
  }
  const double attention_flop = 4.0 * o.batch * o.n_heads * o.seq * o.seq * config.d_head * o.n_layers;
  r.forward_gflop = (gemm_flop + attention_flop) / 1e9;

  say(fmt::format("timing forward and run_with_cache of all {} hook points ({} x {} tokens, {} runs each)",
                  r.hook_points, o.batch, o.seq, o.repeats));
  model(tokens);  // warm-up: first-touch allocations, BLAS thread start
  { auto warm = model.run_with_cache(tokens); r.cache_mb = static_cast<double>(warm.second.nbytes()) / (1 << 20); }
  std::vector<double> forward_times, cache_times;
  for (int i = 0; i < o.repeats; ++i) {  // interleaved, so drift in machine speed hits both alike
    auto start = std::chrono::steady_clock::now();
    auto logits = model(tokens);
    forward_times.push_back(seconds_since(start));
    start = std::chrono::steady_clock::now();
    auto cached = model.run_with_cache(tokens);
    cache_times.push_back(seconds_since(start));
  }
  r.forward_s = median(forward_times);
  r.cache_s = median(cache_times);

  say("timing bare matmuls of the same shapes");
  double gemm_seconds = 0;
  for (const auto& [shape, count] : forward_matmuls(o)) {
    auto [m, k, n] = shape;
    auto a = torch::randn({m, k}, generator), b = torch::randn({k, n}, generator);
    auto c = torch::mm(a, b);
    std::vector<double> times;
    for (int i = 0; i < o.repeats; ++i) {
      auto start = std::chrono::steady_clock::now();
      torch::mm_out(c, a, b);
      times.push_back(seconds_since(start));
    }
    gemm_seconds += median(times) * static_cast<double>(count);
  }

  const double n_tokens = static_cast<double>(o.batch * o.seq);
  r.forward_tokens_per_s = n_tokens / r.forward_s;
  r.cache_tokens_per_s = n_tokens / r.cache_s;
  r.forward_gflops = r.forward_gflop / r.forward_s;
  r.sgemm_gflops = gemm_flop / 1e9 / gemm_seconds;
  r.forward_vs_sgemm = r.forward_gflops / r.sgemm_gflops;
  r.cache_overhead = r.cache_s / r.forward_s - 1.0;
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

nlohmann::json ForwardBenchmarkResult::to_json() const {
  return {{"threads", threads},
          {"hook_points", hook_points},
          {"forward_s", forward_s},
          {"cache_s", cache_s},
          {"forward_tokens_per_s", forward_tokens_per_s},
          {"cache_tokens_per_s", cache_tokens_per_s},
          {"forward_gflop", forward_gflop},
          {"forward_gflops", forward_gflops},
          {"sgemm_gflops", sgemm_gflops},
          {"forward_vs_sgemm", forward_vs_sgemm},
          {"cache_overhead", cache_overhead},
          {"cache_mb", cache_mb},
          {"peak_rss_mb", peak_rss_mb}};
}

std::string ForwardBenchmarkResult::to_table() const {
  std::string s;
  s += fmt::format("forward           {:8.3f} s   {:9.0f} tokens/s   {:6.1f} GFLOP/s ({:.1f} GFLOP)\n", forward_s,
                   forward_tokens_per_s, forward_gflops, forward_gflop);
  s += fmt::format("run_with_cache    {:8.3f} s   {:9.0f} tokens/s   all {} hook points, {:.0f} MB cached\n",
                   cache_s, cache_tokens_per_s, hook_points, cache_mb);
  s += fmt::format("sgemm, same shapes            {:6.1f} GFLOP/s\n", sgemm_gflops);
  s += fmt::format("forward / sgemm   {:8.2f}     (target >= 0.60)  {}\n", forward_vs_sgemm,
                   forward_vs_sgemm >= 0.6 ? "ok" : "BELOW TARGET");
  s += fmt::format("cache overhead    {:+8.1f}%    (target <= 15%)   {}\n", 100 * cache_overhead,
                   cache_overhead <= 0.15 ? "ok" : "ABOVE TARGET");
  s += fmt::format("peak RSS          {:8.0f} MB   threads {}\n", peak_rss_mb, threads);
  return s;
}

}  // namespace arrakis
