#pragma once
// Statistical tests for the comparisons interpretability experiments make, e.g. the logit difference over prompts
// with a head ablated vs not: permutation tests (exact when the rearrangements are few enough to enumerate, Monte
// Carlo with a seed otherwise), Student's t-tests (Welch's for independent samples, paired), bootstrap percentile
// intervals (exact or Monte Carlo), and effect sizes. Distributions come from Boost.Math.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace arrakis {

/// The alternative hypothesis, about mean(x) - mean(y) (or the mean of x - y when paired).
enum class Alternative { TwoSided, Greater, Less };
std::string to_string(Alternative alternative);

struct PermutationOptions {
  Alternative alternative = Alternative::TwoSided;
  /// Enumerate every rearrangement when there are at most this many; otherwise draw `resamples` at random.
  int64_t max_exact = 1'000'000;
  int64_t resamples = 20'000;
  uint64_t seed = 0;
};

struct PermutationTestResult {
  double statistic = 0;  // observed mean difference
  double p_value = 0;    // exact: share of rearrangements at least as extreme; Monte Carlo: (hits + 1) / (B + 1)
  bool exact = false;
  int64_t rearrangements = 0;  // enumerated or drawn
};

/// Independent samples: group labels are exchangeable under the null; statistic mean(x) - mean(y).
PermutationTestResult permutation_test(std::span<const double> x, std::span<const double> y,
                                       const PermutationOptions& options = {});
/// Paired samples: the sign of each difference x_i - y_i is exchangeable under the null; statistic mean(x - y).
PermutationTestResult paired_permutation_test(std::span<const double> x, std::span<const double> y,
                                              const PermutationOptions& options = {});

struct TTestResult {
  double t = 0;
  double degrees_of_freedom = 0;
  double p_value = 0;
  double mean_difference = 0;
  double standard_error = 0;
};

/// Welch's t-test (unequal variances; Welch–Satterthwaite degrees of freedom).
TTestResult welch_t_test(std::span<const double> x, std::span<const double> y,
                         Alternative alternative = Alternative::TwoSided);
/// Paired t-test: a one-sample t-test of the differences x_i - y_i against 0.
TTestResult paired_t_test(std::span<const double> x, std::span<const double> y,
                          Alternative alternative = Alternative::TwoSided);

struct BootstrapOptions {
  double confidence = 0.95;
  /// Enumerate every distinct resample (weighted by its multinomial probability) when there are at most this many;
  /// otherwise draw `resamples` at random.
  int64_t max_exact = 1'000'000;
  int64_t resamples = 20'000;
  uint64_t seed = 0;
};

/// A percentile interval: the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the bootstrap distribution
/// of the statistic, the q-quantile being the smallest value v with P(T <= v) >= q.
struct BootstrapInterval {
  double estimate = 0;  // the statistic on the data
  double lower = 0, upper = 0;
  double confidence = 0.95;
  bool exact = false;
  int64_t resamples = 0;  // distinct resamples enumerated, or resamples drawn
};

/// The mean of one sample.
BootstrapInterval bootstrap_mean(std::span<const double> x, const BootstrapOptions& options = {});
/// mean(x) - mean(y): independent resamples of x and of y.
BootstrapInterval bootstrap_mean_difference(std::span<const double> x, std::span<const double> y,
                                            const BootstrapOptions& options = {});

struct EffectSize {
  double cohens_d = 0;  // independent: difference of means / pooled SD; paired: mean difference / SD of differences
  double hedges_g = 0;  // d times the exact small-sample correction Γ(m/2) / (sqrt(m/2) Γ((m-1)/2)), m = df
};
EffectSize effect_size(std::span<const double> x, std::span<const double> y, bool paired);

struct HypothesisOptions {
  bool paired = false;
  Alternative alternative = Alternative::TwoSided;
  PermutationOptions permutation{};  // its alternative is replaced by the one above
  BootstrapOptions bootstrap{};
};

/// Everything test_hypothesis computes for two samples.
struct HypothesisReport {
  bool paired = false;
  Alternative alternative = Alternative::TwoSided;
  int64_t n_x = 0, n_y = 0;
  double mean_x = 0, mean_y = 0;
  PermutationTestResult permutation;
  TTestResult t_test;           // Welch's when independent, paired t when paired
  BootstrapInterval bootstrap;  // of mean(x) - mean(y), or of the mean difference when paired
  EffectSize effect;

  std::string table() const;
  nlohmann::json to_json() const;
};

/// Compares two samples (e.g. a metric with and without an intervention). Paired samples must have equal lengths.
/// Every sample needs at least two values; arrakis::Error otherwise.
HypothesisReport test_hypothesis(std::span<const double> x, std::span<const double> y,
                                 const HypothesisOptions& options = {});

}  // namespace arrakis
