// Hypothesis tests against references computed independently: exact enumeration written here (bit masks and
// ordered resamples, not the library's recursions), @stdlib's t-tests run by node
// (tests/data/bench/make_hypothesis_references.mjs), and closed forms.
#include <algorithm>
#include <bit>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>

#include "arrakis/analysis/hypothesis_tests.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

nlohmann::json references() {
  std::ifstream in(test::source_dir() / "tests/data/bench/hypothesis_references.json");
  return nlohmann::json::parse(in);
}

std::vector<double> vec(const nlohmann::json& j) { return j.get<std::vector<double>>(); }

double mean_of(const std::vector<double>& v) {
  long double s = 0;
  for (double x : v) s += x;
  return static_cast<double>(s / v.size());
}

// Unpaired: every subset of the pooled values of size |x| (bit masks over 2^n), two-sided.
double brute_force_permutation_p(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> pooled = x;
  pooled.insert(pooled.end(), y.begin(), y.end());
  const int n = static_cast<int>(pooled.size()), nx = static_cast<int>(x.size());
  const double observed = std::abs(mean_of(x) - mean_of(y));
  long hits = 0, total = 0;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (std::popcount(mask) != nx) continue;
    std::vector<double> a, b;
    for (int i = 0; i < n; ++i) (mask >> i & 1 ? a : b).push_back(pooled[i]);
    ++total;
    if (std::abs(mean_of(a) - mean_of(b)) >= observed - 1e-12) ++hits;
  }
  return static_cast<double>(hits) / total;
}

// Paired: every assignment of signs to the differences, one-sided (greater) and two-sided.
std::pair<double, double> brute_force_sign_flip_p(const std::vector<double>& x, const std::vector<double>& y) {
  const int n = static_cast<int>(x.size());
  double observed = 0;
  for (int i = 0; i < n; ++i) observed += (x[i] - y[i]) / n;
  long greater = 0, two_sided = 0;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    double t = 0;
    for (int i = 0; i < n; ++i) t += (mask >> i & 1 ? -1 : 1) * (x[i] - y[i]) / n;
    greater += t >= observed - 1e-12;
    two_sided += std::abs(t) >= std::abs(observed) - 1e-12;
  }
  return {static_cast<double>(greater) / (1 << n), static_cast<double>(two_sided) / (1 << n)};
}

// The q-quantile (smallest v with P(T <= v) >= q) of equally likely values.
double quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  auto k = static_cast<std::size_t>(std::ceil(q * values.size() - 1e-9));
  return values[std::max<std::size_t>(k, 1) - 1];
}

// Every ordered resample (n^n of them, equally likely) of each sample.
std::vector<double> all_resample_means(const std::vector<double>& v) {
  const std::size_t n = v.size();
  std::size_t count = 1;
  for (std::size_t i = 0; i < n; ++i) count *= n;
  std::vector<double> means;
  means.reserve(count);
  for (std::size_t code = 0; code < count; ++code) {
    double s = 0;
    for (std::size_t i = 0, c = code; i < n; ++i, c /= n) s += v[c % n];
    means.push_back(s / n);
  }
  return means;
}

TEST(BenchStatistics, ExactPermutationTestsMatchBruteForceEnumeration) {
  auto refs = references();
  for (const char* name : {"independent", "independent_unequal"}) {
    auto x = vec(refs[name]["x"]), y = vec(refs[name]["y"]);
    auto result = permutation_test(x, y);
    EXPECT_TRUE(result.exact);
    EXPECT_NEAR(result.p_value, brute_force_permutation_p(x, y), 1e-12) << name;
    EXPECT_NEAR(result.statistic, mean_of(x) - mean_of(y), 1e-12);
  }
  auto x = vec(refs["paired"]["x"]), y = vec(refs["paired"]["y"]);
  auto [greater, two_sided] = brute_force_sign_flip_p(x, y);
  EXPECT_NEAR(paired_permutation_test(x, y).p_value, two_sided, 1e-12);
  EXPECT_NEAR(paired_permutation_test(x, y, {.alternative = Alternative::Greater}).p_value, greater, 1e-12);
  EXPECT_EQ(paired_permutation_test(x, y).rearrangements, 4096);
  // A clear difference is significant, no difference is not.
  EXPECT_LT(two_sided, 0.01);
  EXPECT_GT(paired_permutation_test(x, x).p_value, 0.99);
}

TEST(BenchStatistics, MonteCarloPermutationTestsAreSeededAndAgreeWithExact) {
  auto refs = references();
  auto x = vec(refs["independent_unequal"]["x"]), y = vec(refs["independent_unequal"]["y"]);
  const double exact = permutation_test(x, y).p_value;
  PermutationOptions monte_carlo{.max_exact = 0, .resamples = 20000, .seed = 7};
  auto a = permutation_test(x, y, monte_carlo), b = permutation_test(x, y, monte_carlo);
  EXPECT_FALSE(a.exact);
  EXPECT_EQ(a.p_value, b.p_value);  // the same seed draws the same rearrangements
  monte_carlo.seed = 8;
  EXPECT_NE(permutation_test(x, y, monte_carlo).p_value, a.p_value);
  // Within 4 binomial standard errors of the exact value.
  EXPECT_NEAR(a.p_value, exact, 4 * std::sqrt(exact * (1 - exact) / 20000) + 1.0 / 20000);

  auto px = vec(refs["paired"]["x"]), py = vec(refs["paired"]["y"]);
  const double exact_paired = paired_permutation_test(px, py).p_value;
  auto mc = paired_permutation_test(px, py, {.max_exact = 0, .resamples = 20000, .seed = 3});
  EXPECT_NEAR(mc.p_value, exact_paired, 4 * std::sqrt(exact_paired * (1 - exact_paired) / 20000) + 1.0 / 20000);
}

TEST(BenchStatistics, TTestsMatchStdlib) {
  auto refs = references();
  const std::pair<Alternative, const char*> alternatives[] = {
      {Alternative::TwoSided, "two-sided"}, {Alternative::Greater, "greater"}, {Alternative::Less, "less"}};
  for (const char* name : {"independent", "independent_unequal"}) {
    auto x = vec(refs[name]["x"]), y = vec(refs[name]["y"]);
    for (auto [alternative, key] : alternatives) {
      const auto& ref = refs[name][std::string("welch_") + key];
      auto r = welch_t_test(x, y, alternative);
      EXPECT_NEAR(r.t, ref["t"].get<double>(), 1e-9) << name << " " << key;
      EXPECT_NEAR(r.degrees_of_freedom, ref["df"].get<double>(), 1e-9) << name << " " << key;
      EXPECT_NEAR(r.p_value, ref["p"].get<double>(), 1e-6) << name << " " << key;
    }
  }
  auto x = vec(refs["paired"]["x"]), y = vec(refs["paired"]["y"]);
  for (auto [alternative, key] : alternatives) {
    const auto& ref = refs["paired"][std::string("paired_") + key];
    auto r = paired_t_test(x, y, alternative);
    EXPECT_NEAR(r.t, ref["t"].get<double>(), 1e-9) << key;
    EXPECT_EQ(r.degrees_of_freedom, ref["df"].get<double>()) << key;
    EXPECT_NEAR(r.p_value, ref["p"].get<double>(), 1e-6) << key;
  }
}

TEST(BenchStatistics, ExactBootstrapIntervalsMatchEveryOrderedResample) {
  // One sample: all 6^6 ordered resamples.
  std::vector<double> d = {0.17, -0.03, 0.44, 0.37, 0.21, 0.06};
  auto means = all_resample_means(d);
  for (double confidence : {0.95, 0.8}) {
    auto interval = bootstrap_mean(d, {.confidence = confidence});
    EXPECT_TRUE(interval.exact);
    EXPECT_EQ(interval.resamples, 462);  // distinct multisets: C(11, 6)
    EXPECT_NEAR(interval.lower, quantile(means, (1 - confidence) / 2), 1e-12);
    EXPECT_NEAR(interval.upper, quantile(means, (1 + confidence) / 2), 1e-12);
    EXPECT_NEAR(interval.estimate, mean_of(d), 1e-12);
  }
  // Two samples: all 4^4 x 5^5 ordered pairs of resamples.
  std::vector<double> x = {3.1, 2.9, 3.6, 3.3}, y = {2.4, 2.9, 2.1, 2.7, 2.2};
  auto mx = all_resample_means(x), my = all_resample_means(y);
  std::vector<double> differences;
  for (double a : mx)
    for (double b : my) differences.push_back(a - b);
  auto interval = bootstrap_mean_difference(x, y);
  EXPECT_TRUE(interval.exact);
  EXPECT_NEAR(interval.lower, quantile(differences, 0.025), 1e-12);
  EXPECT_NEAR(interval.upper, quantile(differences, 0.975), 1e-12);
}

TEST(BenchStatistics, MonteCarloBootstrapIsSeededAndCloseToExact) {
  std::vector<double> d = {0.17, -0.03, 0.44, 0.37, 0.21, 0.06, 0.12};
  auto exact = bootstrap_mean(d);
  BootstrapOptions options{.max_exact = 0, .resamples = 40000, .seed = 11};
  auto a = bootstrap_mean(d, options), b = bootstrap_mean(d, options);
  EXPECT_FALSE(a.exact);
  EXPECT_EQ(a.lower, b.lower);
  EXPECT_EQ(a.upper, b.upper);
  EXPECT_NEAR(a.lower, exact.lower, 0.01);  // the data span 0.47
  EXPECT_NEAR(a.upper, exact.upper, 0.01);
}

TEST(BenchStatistics, EffectSizesMatchReferencesAndClosedForms) {
  auto refs = references();
  auto x = vec(refs["independent"]["x"]), y = vec(refs["independent"]["y"]);
  auto e = effect_size(x, y, false);
  EXPECT_NEAR(e.cohens_d, refs["independent"]["cohens_d"].get<double>(), 1e-12);
  // 8 + 7 - 2 = 13 degrees of freedom: J = Γ(6.5) / (sqrt(6.5) Γ(6)), Γ(6.5) = 10395/64 sqrt(pi), Γ(6) = 120.
  const double j13 = 10395.0 / 64 * std::sqrt(std::numbers::pi) / (std::sqrt(6.5) * 120);
  EXPECT_NEAR(e.hedges_g, e.cohens_d * j13, 1e-12);
  auto px = vec(refs["paired"]["x"]), py = vec(refs["paired"]["y"]);
  auto p = effect_size(px, py, true);
  EXPECT_NEAR(p.cohens_d, refs["paired"]["cohens_d"].get<double>(), 1e-12);
  // 12 pairs, 11 degrees of freedom: J = Γ(5.5) / (sqrt(5.5) Γ(5)), Γ(5.5) = 945/32 sqrt(pi), Γ(5) = 24.
  const double j11 = 945.0 / 32 * std::sqrt(std::numbers::pi) / (std::sqrt(5.5) * 24);
  EXPECT_NEAR(p.hedges_g, p.cohens_d * j11, 1e-12);
}

TEST(BenchStatistics, TestHypothesisCombinesTheTestsAndRejectsBadSamples) {
  auto refs = references();
  auto x = vec(refs["paired"]["x"]), y = vec(refs["paired"]["y"]);
  auto report = test_hypothesis(x, y, {.paired = true});
  EXPECT_NEAR(report.t_test.p_value, refs["paired"]["paired_two-sided"]["p"].get<double>(), 1e-6);
  EXPECT_NEAR(report.permutation.p_value, brute_force_sign_flip_p(x, y).second, 1e-12);
  EXPECT_LT(report.bootstrap.lower, report.bootstrap.estimate);
  EXPECT_GT(report.bootstrap.upper, report.bootstrap.estimate);
  EXPECT_NE(report.table().find("paired t-test"), std::string::npos);
  EXPECT_EQ(report.to_json()["t_test"]["kind"], "paired");

  EXPECT_NE(test::error_of([&] {
              test_hypothesis(x, std::vector<double>{1, 2, 3}, {.paired = true});
            }).find("equal lengths (x has 12, y has 3)"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { welch_t_test(std::vector<double>{1}, y); }).find("at least 2"), std::string::npos);
  EXPECT_NE(test::error_of([&] {
              welch_t_test(std::vector<double>{1, NAN}, y);
            }).find("non-finite"),
            std::string::npos);
}

}  // namespace
}  // namespace arrakis
