#include "arrakis/analysis/hypothesis_tests.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <numeric>
#include <random>
#include <utility>

#include "arrakis/error.hpp"

namespace arrakis {
namespace {

double mean(std::span<const double> v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Sample variance (n - 1 in the denominator).
double variance(std::span<const double> v) {
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(v.size() - 1);
}

void require_sample(std::span<const double> v, const char* name, const char* what) {
  if (v.size() < 2)
    throw Error(fmt::format("{}: sample {} has {} value(s); at least 2 are needed", what, name, v.size()));
  for (double x : v)
    if (!std::isfinite(x)) throw Error(fmt::format("{}: sample {} holds a non-finite value ({})", what, name, x));
}

void require_paired(std::span<const double> x, std::span<const double> y, const char* what) {
  require_sample(x, "x", what);
  require_sample(y, "y", what);
  if (x.size() != y.size())
    throw Error(fmt::format("{}: paired samples need equal lengths (x has {}, y has {})", what, x.size(), y.size()));
}

std::vector<double> differences(std::span<const double> x, std::span<const double> y) {
  std::vector<double> d(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) d[i] = x[i] - y[i];
  return d;
}

// Rearranged statistics that differ from the observed one only by rounding must count as "as extreme": the
// observed arrangement itself is computed by a different summation order.
double tolerance(std::span<const double> values) {
  double scale = 0;
  for (double v : values) scale = std::max(scale, std::abs(v));
  return 1e-9 * std::max(scale, 1e-300);
}

struct ExtremeCounter {
  Alternative alternative;
  double observed, tol;
  bool operator()(double t) const {
    switch (alternative) {
      case Alternative::Greater: return t >= observed - tol;
      case Alternative::Less: return t <= observed + tol;
      default: return std::abs(t) >= std::abs(observed) - tol;
    }
  }
};

// Counts that overflow int64 still compare correctly as doubles against a limit.
double binomial(int64_t n, int64_t k) {
  double c = 1;
  for (int64_t i = 1; i <= k; ++i) c = c * static_cast<double>(n - k + i) / static_cast<double>(i);
  return std::round(c);
}

// Uniform integer in [0, n) from a 64-bit engine (Lemire's method): reproducible on every standard library,
// unlike std::uniform_int_distribution.
uint64_t uniform_below(std::mt19937_64& engine, uint64_t n) {
  __uint128_t m = static_cast<__uint128_t>(engine()) * n;
  auto low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = -n % n;
    while (low < threshold) {
      m = static_cast<__uint128_t>(engine()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

double t_p_value(double t, double df, Alternative alternative) {
  boost::math::students_t dist(df);
  switch (alternative) {
    case Alternative::Greater: return boost::math::cdf(boost::math::complement(dist, t));
    case Alternative::Less: return boost::math::cdf(dist, t);
    default: return std::min(1.0, 2 * boost::math::cdf(boost::math::complement(dist, std::abs(t))));
  }
}

// The q-quantile (smallest v with P(T <= v) >= q) of a distribution given as (value, weight) pairs.
double weighted_quantile(std::vector<std::pair<double, double>>& dist, double q) {
  std::sort(dist.begin(), dist.end());
  double total = 0;
  for (const auto& [v, w] : dist) total += w;
  double cumulative = 0;
  for (const auto& [v, w] : dist) {
    cumulative += w;
    if (cumulative >= q * total * (1 - 1e-12)) return v;
  }
  return dist.back().first;
}

double sorted_quantile(const std::vector<double>& sorted, double q) {
  auto k = static_cast<int64_t>(std::ceil(q * static_cast<double>(sorted.size()) * (1 - 1e-12)));
  return sorted[static_cast<std::size_t>(std::clamp<int64_t>(k - 1, 0, static_cast<int64_t>(sorted.size()) - 1))];
}

// The exact bootstrap distribution of a sample's mean: every multiset of n draws, weighted by its multinomial
// probability n! / (prod c_i! n^n).
std::vector<std::pair<double, double>> exact_bootstrap_means(std::span<const double> v) {
  const int n = static_cast<int>(v.size());
  std::vector<std::pair<double, double>> out;
  std::vector<int> counts(static_cast<std::size_t>(n), 0);
  const double log_n_factorial = std::lgamma(n + 1.0), log_n_pow_n = n * std::log(static_cast<double>(n));
  // Recursively distribute the n draws over the values.
  auto recurse = [&](auto&& self, int index, int left, double sum, double log_weight) -> void {
    if (index == n - 1) {
      counts[static_cast<std::size_t>(index)] = left;
      double s = sum + left * v[static_cast<std::size_t>(index)];
      double lw = log_weight - std::lgamma(left + 1.0);
      out.emplace_back(s / n, std::exp(log_n_factorial + lw - log_n_pow_n));
      return;
    }
    for (int c = 0; c <= left; ++c) {
      counts[static_cast<std::size_t>(index)] = c;
      self(self, index + 1, left - c, sum + c * v[static_cast<std::size_t>(index)], log_weight - std::lgamma(c + 1.0));
    }
  };
  recurse(recurse, 0, n, 0.0, 0.0);
  return out;
}

}  // namespace

std::string to_string(Alternative alternative) {
  switch (alternative) {
    case Alternative::Greater: return "greater";
    case Alternative::Less: return "less";
    default: return "two-sided";
  }
}

PermutationTestResult permutation_test(std::span<const double> x, std::span<const double> y,
                                       const PermutationOptions& options) {
  require_sample(x, "x", "permutation test");
  require_sample(y, "y", "permutation test");
  std::vector<double> pooled(x.begin(), x.end());
  pooled.insert(pooled.end(), y.begin(), y.end());
  const auto n = static_cast<int64_t>(pooled.size()), nx = static_cast<int64_t>(x.size()),
             ny = static_cast<int64_t>(y.size());
  const double total = std::accumulate(pooled.begin(), pooled.end(), 0.0);
  auto statistic_of = [&](double sum_x) {
    return sum_x / static_cast<double>(nx) - (total - sum_x) / static_cast<double>(ny);
  };
  PermutationTestResult result;
  result.statistic = mean(x) - mean(y);
  ExtremeCounter extreme{options.alternative, result.statistic, tolerance(pooled)};

  if (binomial(n, nx) <= static_cast<double>(options.max_exact)) {
    // Every choice of which nx of the pooled values form group x.
    int64_t hits = 0, count = 0;
    auto recurse = [&](auto&& self, int64_t start, int64_t chosen, double sum) -> void {
      if (chosen == nx) {
        ++count;
        hits += extreme(statistic_of(sum));
        return;
      }
      for (int64_t i = start; i <= n - (nx - chosen); ++i)
        self(self, i + 1, chosen + 1, sum + pooled[static_cast<std::size_t>(i)]);
    };
    recurse(recurse, 0, 0, 0.0);
    result.exact = true;
    result.rearrangements = count;
    result.p_value = static_cast<double>(hits) / static_cast<double>(count);
    return result;
  }
  if (options.resamples < 1) throw Error("permutation test: resamples must be at least 1");
  std::mt19937_64 engine(options.seed);
  int64_t hits = 0;
  for (int64_t b = 0; b < options.resamples; ++b) {
    // A partial Fisher–Yates shuffle: the first nx positions are a uniform random subset.
    double sum = 0;
    for (int64_t i = 0; i < nx; ++i) {
      auto j = i + static_cast<int64_t>(uniform_below(engine, static_cast<uint64_t>(n - i)));
      std::swap(pooled[static_cast<std::size_t>(i)], pooled[static_cast<std::size_t>(j)]);
      sum += pooled[static_cast<std::size_t>(i)];
    }
    hits += extreme(statistic_of(sum));
  }
  result.rearrangements = options.resamples;
  result.p_value = static_cast<double>(hits + 1) / static_cast<double>(options.resamples + 1);
  return result;
}

PermutationTestResult paired_permutation_test(std::span<const double> x, std::span<const double> y,
                                              const PermutationOptions& options) {
  require_paired(x, y, "paired permutation test");
  const auto d = differences(x, y);
  const auto n = static_cast<int64_t>(d.size());
  PermutationTestResult result;
  result.statistic = mean(d);
  ExtremeCounter extreme{options.alternative, result.statistic, tolerance(d)};
  if (n < 62 && (int64_t{1} << n) <= options.max_exact) {
    int64_t hits = 0;
    auto recurse = [&](auto&& self, int64_t i, double sum) -> void {
      if (i == n) {
        hits += extreme(sum / static_cast<double>(n));
        return;
      }
      self(self, i + 1, sum + d[static_cast<std::size_t>(i)]);
      self(self, i + 1, sum - d[static_cast<std::size_t>(i)]);
    };
    recurse(recurse, 0, 0.0);
    result.exact = true;
    result.rearrangements = int64_t{1} << n;
    result.p_value = static_cast<double>(hits) / static_cast<double>(result.rearrangements);
    return result;
  }
  if (options.resamples < 1) throw Error("paired permutation test: resamples must be at least 1");
  std::mt19937_64 engine(options.seed);
  int64_t hits = 0;
  for (int64_t b = 0; b < options.resamples; ++b) {
    double sum = 0;
    uint64_t bits = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (i % 64 == 0) bits = engine();
      sum += (bits & 1) ? -d[static_cast<std::size_t>(i)] : d[static_cast<std::size_t>(i)];
      bits >>= 1;
    }
    hits += extreme(sum / static_cast<double>(n));
  }
  result.rearrangements = options.resamples;
  result.p_value = static_cast<double>(hits + 1) / static_cast<double>(options.resamples + 1);
  return result;
}

TTestResult welch_t_test(std::span<const double> x, std::span<const double> y, Alternative alternative) {
  require_sample(x, "x", "Welch's t-test");
  require_sample(y, "y", "Welch's t-test");
  const double nx = static_cast<double>(x.size()), ny = static_cast<double>(y.size());
  const double vx = variance(x) / nx, vy = variance(y) / ny;
  TTestResult r;
  r.mean_difference = mean(x) - mean(y);
  r.standard_error = std::sqrt(vx + vy);
  if (r.standard_error == 0) throw Error("Welch's t-test: both samples are constant (zero variance)");
  r.t = r.mean_difference / r.standard_error;
  r.degrees_of_freedom = (vx + vy) * (vx + vy) / (vx * vx / (nx - 1) + vy * vy / (ny - 1));
  r.p_value = t_p_value(r.t, r.degrees_of_freedom, alternative);
  return r;
}

TTestResult paired_t_test(std::span<const double> x, std::span<const double> y, Alternative alternative) {
  require_paired(x, y, "paired t-test");
  const auto d = differences(x, y);
  const double n = static_cast<double>(d.size());
  TTestResult r;
  r.mean_difference = mean(d);
  r.standard_error = std::sqrt(variance(d) / n);
  if (r.standard_error == 0) throw Error("paired t-test: the differences are constant (zero variance)");
  r.t = r.mean_difference / r.standard_error;
  r.degrees_of_freedom = n - 1;
  r.p_value = t_p_value(r.t, r.degrees_of_freedom, alternative);
  return r;
}

namespace {

void check_confidence(const BootstrapOptions& options) {
  if (!(options.confidence > 0 && options.confidence < 1))
    throw Error(fmt::format("bootstrap: confidence must be in (0, 1), not {}", options.confidence));
}

double lower_quantile(const BootstrapOptions& options) { return (1 - options.confidence) / 2; }
double upper_quantile(const BootstrapOptions& options) { return (1 + options.confidence) / 2; }

/// The interval from the exact distribution of the statistic (value, weight) over every resample.
void exact_interval(std::vector<std::pair<double, double>> dist, const BootstrapOptions& options,
                    BootstrapInterval& r) {
  r.exact = true;
  r.resamples = static_cast<int64_t>(dist.size());
  r.lower = weighted_quantile(dist, lower_quantile(options));
  r.upper = weighted_quantile(dist, upper_quantile(options));
}

/// The interval from `options.resamples` seeded draws of the statistic (`draw(engine)` resamples once).
template <class Draw>
void monte_carlo_interval(const BootstrapOptions& options, BootstrapInterval& r, Draw&& draw) {
  if (options.resamples < 1) throw Error("bootstrap: resamples must be at least 1");
  std::mt19937_64 engine(options.seed);
  std::vector<double> stats(static_cast<std::size_t>(options.resamples));
  for (auto& s : stats) s = draw(engine);
  std::sort(stats.begin(), stats.end());
  r.resamples = options.resamples;
  r.lower = sorted_quantile(stats, lower_quantile(options));
  r.upper = sorted_quantile(stats, upper_quantile(options));
}

/// The mean of one resample (with replacement) of `x`.
double resampled_mean(std::span<const double> x, std::mt19937_64& engine) {
  const auto n = static_cast<int64_t>(x.size());
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[uniform_below(engine, static_cast<uint64_t>(n))];
  return sum / static_cast<double>(n);
}

}  // namespace

BootstrapInterval bootstrap_mean(std::span<const double> x, const BootstrapOptions& options) {
  require_sample(x, "x", "bootstrap");
  check_confidence(options);
  const auto n = static_cast<int64_t>(x.size());
  BootstrapInterval r;
  r.estimate = mean(x);
  r.confidence = options.confidence;
  if (binomial(2 * n - 1, n) <= static_cast<double>(options.max_exact))
    exact_interval(exact_bootstrap_means(x), options, r);
  else
    monte_carlo_interval(options, r, [&](std::mt19937_64& engine) { return resampled_mean(x, engine); });
  return r;
}

BootstrapInterval bootstrap_mean_difference(std::span<const double> x, std::span<const double> y,
                                            const BootstrapOptions& options) {
  require_sample(x, "x", "bootstrap");
  require_sample(y, "y", "bootstrap");
  check_confidence(options);
  const auto nx = static_cast<int64_t>(x.size()), ny = static_cast<int64_t>(y.size());
  BootstrapInterval r;
  r.estimate = mean(x) - mean(y);
  r.confidence = options.confidence;
  if (binomial(2 * nx - 1, nx) * binomial(2 * ny - 1, ny) <= static_cast<double>(options.max_exact)) {
    auto dx = exact_bootstrap_means(x), dy = exact_bootstrap_means(y);
    std::vector<std::pair<double, double>> dist;
    dist.reserve(dx.size() * dy.size());
    for (const auto& [mx, wx] : dx)
      for (const auto& [my, wy] : dy) dist.emplace_back(mx - my, wx * wy);
    exact_interval(std::move(dist), options, r);
  } else {
    monte_carlo_interval(options, r, [&](std::mt19937_64& engine) {
      const double mx = resampled_mean(x, engine);  // x's draws first, then y's: the order is part of the seed
      return mx - resampled_mean(y, engine);
    });
  }
  return r;
}

EffectSize effect_size(std::span<const double> x, std::span<const double> y, bool paired) {
  double d = 0, df = 0;
  if (paired) {
    require_paired(x, y, "effect size");
    auto diff = differences(x, y);
    d = mean(diff) / std::sqrt(variance(diff));
    df = static_cast<double>(diff.size()) - 1;
  } else {
    require_sample(x, "x", "effect size");
    require_sample(y, "y", "effect size");
    const double nx = static_cast<double>(x.size()), ny = static_cast<double>(y.size());
    df = nx + ny - 2;
    const double pooled = std::sqrt(((nx - 1) * variance(x) + (ny - 1) * variance(y)) / df);
    d = (mean(x) - mean(y)) / pooled;
  }
  const double correction = std::exp(std::lgamma(df / 2) - std::lgamma((df - 1) / 2)) / std::sqrt(df / 2);
  return {d, d * correction};
}

HypothesisReport test_hypothesis(std::span<const double> x, std::span<const double> y,
                                 const HypothesisOptions& options) {
  HypothesisReport r;
  r.paired = options.paired;
  r.alternative = options.alternative;
  r.n_x = static_cast<int64_t>(x.size());
  r.n_y = static_cast<int64_t>(y.size());
  if (options.paired)
    require_paired(x, y, "test_hypothesis");
  else {
    require_sample(x, "x", "test_hypothesis");
    require_sample(y, "y", "test_hypothesis");
  }
  r.mean_x = mean(x);
  r.mean_y = mean(y);
  auto permutation = options.permutation;
  permutation.alternative = options.alternative;
  if (options.paired) {
    r.permutation = paired_permutation_test(x, y, permutation);
    r.t_test = paired_t_test(x, y, options.alternative);
    auto d = differences(x, y);
    r.bootstrap = bootstrap_mean(d, options.bootstrap);
  } else {
    r.permutation = permutation_test(x, y, permutation);
    r.t_test = welch_t_test(x, y, options.alternative);
    r.bootstrap = bootstrap_mean_difference(x, y, options.bootstrap);
  }
  r.effect = effect_size(x, y, options.paired);
  return r;
}

std::string HypothesisReport::table() const {
  std::string out;
  out += fmt::format("  {:<28} {}\n", "samples",
                     fmt::format("{} x, {} y ({})", n_x, n_y, paired ? "paired" : "independent"));
  out += fmt::format("  {:<28} {:.6g} vs {:.6g} (difference {:.6g})\n", "means", mean_x, mean_y, mean_x - mean_y);
  out += fmt::format("  {:<28} p = {:.6g} ({}, {} {})\n", "permutation test", permutation.p_value,
                     to_string(alternative), permutation.exact ? "exact over" : "Monte Carlo,",
                     fmt::format("{} rearrangements", permutation.rearrangements));
  out += fmt::format("  {:<28} t = {:.4f}, df = {:.2f}, p = {:.6g}\n", paired ? "paired t-test" : "Welch's t-test",
                     t_test.t, t_test.degrees_of_freedom, t_test.p_value);
  out += fmt::format("  {:<28} [{:.6g}, {:.6g}] ({} over {} resamples)\n",
                     fmt::format("bootstrap {:g}% interval", 100 * bootstrap.confidence), bootstrap.lower,
                     bootstrap.upper, bootstrap.exact ? "exact" : "Monte Carlo", bootstrap.resamples);
  out +=
      fmt::format("  {:<28} Cohen's d = {:.4f}, Hedges' g = {:.4f}\n", "effect size", effect.cohens_d, effect.hedges_g);
  return out;
}

nlohmann::json HypothesisReport::to_json() const {
  return {{"paired", paired},
          {"alternative", to_string(alternative)},
          {"n_x", n_x},
          {"n_y", n_y},
          {"mean_x", mean_x},
          {"mean_y", mean_y},
          {"permutation",
           {{"statistic", permutation.statistic},
            {"p_value", permutation.p_value},
            {"exact", permutation.exact},
            {"rearrangements", permutation.rearrangements}}},
          {"t_test",
           {{"kind", paired ? "paired" : "welch"},
            {"t", t_test.t},
            {"df", t_test.degrees_of_freedom},
            {"p_value", t_test.p_value},
            {"mean_difference", t_test.mean_difference},
            {"standard_error", t_test.standard_error}}},
          {"bootstrap",
           {{"estimate", bootstrap.estimate},
            {"lower", bootstrap.lower},
            {"upper", bootstrap.upper},
            {"confidence", bootstrap.confidence},
            {"exact", bootstrap.exact},
            {"resamples", bootstrap.resamples}}},
          {"effect_size", {{"cohens_d", effect.cohens_d}, {"hedges_g", effect.hedges_g}}}};
}

}  // namespace arrakis
