// Head detectors, composition scores and Fourier analysis on real trained models from ../shared: induction-2l (a
// previous-token head in layer 0 feeding induction heads in layer 1) and the grokking modular-addition model.
// Composition scores and OV copying scores against their definitions: unit/test_analysis_circuits.cpp.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arrakis/analysis/circuits.hpp"
#include "arrakis/analysis/factored_matrix.hpp"
#include "arrakis/analysis/fourier.hpp"
#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "reference/trained_models.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;

using test::induction_model;

// The scores written out as loops over the definitions, from a cached pattern (independent of the diagonal code).
double loop_score(const torch::Tensor& pattern, int64_t head, int64_t lag, int64_t first_query) {
  auto p = pattern.to(torch::kFloat64).contiguous();
  auto a = p.accessor<double, 4>();
  double sum = 0;
  int64_t count = 0;
  for (int64_t b = 0; b < p.size(0); ++b)
    for (int64_t q = first_query; q < p.size(2); ++q, ++count) sum += a[b][head][q][q - lag];
  return sum / static_cast<double>(count);
}

TEST(AnalysisHeads, InductionModelHasAPreviousTokenHeadThenInductionHeads) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = induction_model();
  const int64_t period = 16;
  auto tokens = repeated_random_sequences({.batch = 16, .period = period, .high = model.config().d_vocab, .seed = 1});
  ASSERT_EQ(tokens.sizes(), (std::vector<int64_t>{16, 32}));
  EXPECT_TRUE(torch::equal(tokens.index({Slice(), Slice(0, 16)}), tokens.index({Slice(), Slice(16, 32)})));
  auto scores = head_scores(model, tokens, {.period = period});
  for (int l = 0; l < 2; ++l)
    fmt::print(
        "layer {}: prev {:.3f} {:.3f} {:.3f} {:.3f} | induction {:.3f} {:.3f} {:.3f} {:.3f} | duplicate {:.3f} "
        "{:.3f} {:.3f} {:.3f}\n",
        l, scores.previous_token[l][0].item<double>(), scores.previous_token[l][1].item<double>(),
        scores.previous_token[l][2].item<double>(), scores.previous_token[l][3].item<double>(),
        scores.induction[l][0].item<double>(), scores.induction[l][1].item<double>(),
        scores.induction[l][2].item<double>(), scores.induction[l][3].item<double>(),
        scores.duplicate_token[l][0].item<double>(), scores.duplicate_token[l][1].item<double>(),
        scores.duplicate_token[l][2].item<double>(), scores.duplicate_token[l][3].item<double>());

  // The strongest previous-token head is in layer 0 and attends mostly to the previous token.
  const int64_t prev_flat = scores.previous_token.argmax().item<int64_t>();
  const int64_t prev_head = prev_flat % 4;
  EXPECT_EQ(prev_flat / 4, 0) << "strongest previous-token head is not in layer 0";
  EXPECT_GT(scores.previous_token[0][prev_head].item<double>(), 0.4);
  // Induction heads: layer 1 has them (three, each spreading its attention over several keys), layer 0 has none.
  // Attention spread evenly over the keys would score about 1/25 here.
  auto induction_heads = (scores.induction[1] > 0.12).nonzero().flatten();
  EXPECT_GE(induction_heads.numel(), 1);
  EXPECT_LT(scores.induction[0].max().item<double>(), 0.06);
  EXPECT_GT(scores.induction[1].max().item<double>(), 0.15);

  // The scores equal the definitions evaluated with loops over a cached pattern.
  auto [logits, cache] = model.run_with_cache(tokens, names_matching("hook_pattern$"));
  for (int l = 0; l < 2; ++l)
    for (int h = 0; h < 4; ++h) {
      const auto& pattern = cache.at("pattern", l);
      EXPECT_NEAR(scores.previous_token[l][h].item<double>(), loop_score(pattern, h, 1, 1), 1e-5);
      EXPECT_NEAR(scores.induction[l][h].item<double>(), loop_score(pattern, h, period - 1, period), 1e-5);
      EXPECT_NEAR(scores.duplicate_token[l][h].item<double>(), loop_score(pattern, h, period, period), 1e-5);
    }
  // Entropy: zero for a one-hot pattern, ln(n) for a uniform row of n keys.
  auto uniform = torch::tril(torch::ones({3, 3}));
  uniform = (uniform / uniform.sum(-1, true)).reshape({1, 1, 3, 3});
  EXPECT_NEAR(layer_head_scores(uniform, {.period = 1}).entropy.item<double>(), (0 + std::log(2.0) + std::log(3.0)) / 3,
              1e-6);

  // K-composition: the layer-0 previous-token head composes most with each layer-1 induction head.
  auto k_comp = all_composition_scores(model, CompositionKind::K);
  ASSERT_EQ(k_comp.sizes(), (std::vector<int64_t>{2, 4, 2, 4}));
  EXPECT_EQ(k_comp.index({1}).abs().max().item<double>(), 0.0);  // no layer-1 head feeds a later layer
  for (int64_t i = 0; i < induction_heads.numel(); ++i) {
    auto head = induction_heads[i].item<int64_t>();
    auto into = k_comp.index({0, Slice(), 1, head});
    auto values = into.contiguous();
    fmt::print("K-composition into L1H{}: {}\n", head,
               fmt::join(std::vector<float>(values.data_ptr<float>(), values.data_ptr<float>() + 4), " "));
    EXPECT_EQ(into.argmax().item<int64_t>(), prev_head) << "induction head L1H" << head;
  }
}

TEST(AnalysisGrokking, ModularAdditionIsCorrectAndItsEmbeddingLivesOnAFewFrequencies) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = load_pretrained(test::shared_dir() / "models/tl/grokking-mod113");
  const int64_t p = 113;
  // Every pair (a, b), one batched forward of [12769, 3].
  auto a = torch::arange(p).repeat_interleave(p), b = torch::arange(p).repeat(p);
  auto tokens = torch::stack({a, b, torch::full({p * p}, p, torch::kInt64)}, 1);
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model(tokens);
  }
  auto predicted = logits.index({Slice(), -1, Slice(0, p)}).argmax(-1);
  EXPECT_EQ((predicted == (a + b) % p).sum().item<int64_t>(), p * p);

  auto basis = fourier_basis(p);
  EXPECT_LT(test::max_abs_diff(torch::matmul(basis.basis, basis.basis.t()), torch::eye(p, torch::kFloat64)), 1e-10);
  EXPECT_EQ(basis.labels[1], "cos 1");
  auto W_E = model.weights().W_E.index({Slice(0, p)});
  auto norms = fourier_frequency_norms(W_E);  // [57]
  ASSERT_EQ(norms.size(0), 57);
  auto energy = norms.pow(2);
  EXPECT_NEAR(energy.sum().item<double>(), W_E.to(torch::kFloat64).pow(2).sum().item<double>(), 1e-6);
  auto [top, frequency] = energy.sort(0, /*descending=*/true);
  auto share = [&](int64_t k) { return (top.index({Slice(0, k)}).sum() / energy.sum()).item<double>(); };
  std::vector<int64_t> key(frequency.data_ptr<int64_t>(), frequency.data_ptr<int64_t>() + 6);
  auto shares = (top.index({Slice(0, 8)}) / energy.sum()).to(torch::kFloat64).contiguous();
  fmt::print(
      "grokking-mod113 key frequencies (by embedding norm): {}; share of ||W_E||²: top 5 {:.3f}, top 6 {:.3f}, "
      "top 10 {:.3f}; each of the top 8: {:.3f}\n",
      fmt::join(key, ", "), share(5), share(6), share(10),
      fmt::join(std::vector<double>(shares.data_ptr<double>(), shares.data_ptr<double>() + 8), " "));
  // Five key frequencies: together most of the norm, each far above the sixth.
  EXPECT_GT(share(5), 0.75);
  EXPECT_GT(top[4].item<double>(), 3 * top[5].item<double>());
  // A random embedding of the same size spreads over all 57 frequencies (about 6/57 of the norm in any 6).
  auto random_norms = fourier_frequency_norms(torch::randn({p, 128}));
  auto random_top =
      std::get<0>(random_norms.pow(2).sort(0, true)).index({Slice(0, 6)}).sum() / random_norms.pow(2).sum();
  EXPECT_LT(random_top.item<double>(), 0.3);
}

}  // namespace
}  // namespace arrakis
