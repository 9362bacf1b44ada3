// FactoredMatrix, the OV/QK circuits and composition scores against materialised products, on seeded random matrices
// and models; OV copying scores against the full circuits' eigenvalues on the embedded demo model (the detectors and
// composition on trained models: reference/test_trained_circuits.cpp).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arrakis/analysis/circuits.hpp"
#include "arrakis/analysis/factored_matrix.hpp"
#include "arrakis/analysis/fourier.hpp"
#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/demo/demo_model.hpp"
#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;

// A seeded random model shaped like ../shared's induction-2l: two attention-only layers of 4 heads of 12, d_model 48,
// vocabulary 128, no norms (so the circuits' norm folding and centring leave the weights as they are).
HookedTransformer random_attention_only_model() {
  ModelConfig c;
  c.n_layers = 2;
  c.d_model = 48;
  c.n_heads = 4;
  c.d_head = 12;
  c.d_vocab = 128;
  c.n_ctx = 85;
  c.attn_only = true;
  c.normalization = NormType::None;
  auto weights = ModelWeights::random(c, /*seed=*/0, /*init_range=*/0.1);
  return HookedTransformer(std::move(c), std::move(weights));
}

TEST(AnalysisFactored, SvdEigenvaluesAndNormEqualThoseOfTheProduct) {
  torch::manual_seed(3);
  auto A = torch::randn({2, 3, 12, 5}), B = torch::randn({2, 3, 5, 12});
  FactoredMatrix m(A, B);
  auto ab = torch::matmul(A, B);
  EXPECT_LT(test::max_abs_diff(m.AB(), ab), 1e-5);
  EXPECT_EQ(m.batch_shape(), (std::vector<int64_t>{2, 3}));

  auto svd = m.svd();
  auto expected_s = torch::linalg_svdvals(ab);  // [2, 3, 12]: 5 nonzero, the rest ~0
  EXPECT_LT(test::max_abs_diff(svd.S, expected_s.index({"...", Slice(0, 5)})), 1e-4);
  EXPECT_LT(expected_s.index({"...", Slice(5)}).abs().max().item<double>(), 1e-4);
  EXPECT_LT(test::max_abs_diff(torch::matmul(svd.U * svd.S.unsqueeze(-2), svd.Vh), ab), 1e-4);

  EXPECT_LT(test::max_abs_diff(m.norm(), torch::linalg_matrix_norm(ab)), 1e-4);

  // Each eigenvalue of BA is one of AB's; AB's other 7 are ~0.
  auto eig = m.eigenvalues();                                 // [2, 3, 5]
  auto full = torch::linalg_eigvals(ab.to(torch::kFloat64));  // [2, 3, 12]
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      auto distance = (eig[i][j].to(torch::kComplexDouble).unsqueeze(-1) - full[i][j].unsqueeze(0)).abs();  // [5, 12]
      EXPECT_LT(distance.amin(-1).max().item<double>(), 1e-3);
      auto matched = distance.argmin(-1);
      auto rest = torch::ones({12}, torch::kBool).index_put_({matched}, false);
      EXPECT_LT(full[i][j].index({rest}).abs().max().item<double>(), 1e-3);
    }
}

TEST(AnalysisFactored, ProductsTransposeAndSelectionStayExact) {
  torch::manual_seed(4);
  FactoredMatrix m(torch::randn({4, 10, 3}), torch::randn({4, 3, 8}));
  auto ab = m.AB();
  auto M = torch::randn({8, 6}), L = torch::randn({5, 10});
  EXPECT_LT(test::max_abs_diff(m.matmul(M).AB(), torch::matmul(ab, M)), 1e-4);
  EXPECT_EQ(m.matmul(M).mdim(), 3);  // kept factored through the small dimension
  EXPECT_LT(test::max_abs_diff(m.rmatmul(L).AB(), torch::matmul(L, ab)), 1e-4);
  FactoredMatrix other(torch::randn({8, 2}), torch::randn({2, 7}));
  auto product = m.matmul(other);
  EXPECT_LT(test::max_abs_diff(product.AB(), torch::matmul(ab, other.AB())), 1e-4);
  EXPECT_LE(product.mdim(), 3);
  EXPECT_LT(test::max_abs_diff(m.transpose().AB(), ab.transpose(-2, -1)), 1e-5);
  EXPECT_LT(test::max_abs_diff(m.select(0, 2).AB(), ab[2]), 1e-5);
  EXPECT_LT(test::max_abs_diff(m.get_corner(2), ab.index({Slice(), Slice(0, 2), Slice(0, 2)})), 1e-5);
  EXPECT_NE(test::error_of([&] {
              FactoredMatrix(torch::randn({4, 3}), torch::randn({2, 4}));
            }).find("do not chain"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { m.BA(); }).find("square"), std::string::npos);
}

TEST(AnalysisFactored, CircuitsMapQueryHeadsToTheirKeyValueHeads) {
  auto model = test::random_model("llama");
  const auto& c = model.config();
  ASSERT_EQ(c.n_heads, 4);
  ASSERT_EQ(c.kv_heads(), 2);
  CircuitOptions raw;
  raw.fold_norm_weights = false;
  auto ov = ov_circuits(model, raw), qk = qk_circuits(model, raw);
  ASSERT_EQ(ov.batch_shape(), (std::vector<int64_t>{c.n_layers, 4}));
  const auto& attn = model.weights().blocks[1].attn;
  for (int h = 0; h < 4; ++h) {
    EXPECT_LT(test::max_abs_diff(ov.select(0, 1).select(0, h).AB(), torch::matmul(attn.W_V[h / 2], attn.W_O[h])), 1e-5);
    EXPECT_LT(test::max_abs_diff(qk.select(0, 1).select(0, h).AB(), torch::matmul(attn.W_Q[h], attn.W_K[h / 2].t())),
              1e-5);
  }
  // Folding ln1's weight scales the rows that read the normalised stream.
  auto folded = ov_circuits(model);
  auto w = model.weights().blocks[1].ln1.w;
  EXPECT_LT(test::max_abs_diff(folded.select(0, 1).select(0, 3).AB(),
                               w.unsqueeze(-1) * torch::matmul(attn.W_V[1], attn.W_O[3])),
            1e-5);
}

TEST(AnalysisHeads, CompositionScoresMatchMaterialisedProducts) {
  auto model = random_attention_only_model();
  auto& w = model.weights();
  for (auto kind : {CompositionKind::Q, CompositionKind::K, CompositionKind::V}) {
    auto scores = all_composition_scores(model, kind);
    for (int h0 = 0; h0 < 4; h0 += 3)
      for (int h1 = 0; h1 < 4; ++h1) {
        auto ov = torch::matmul(w.blocks[0].attn.W_V[h0], w.blocks[0].attn.W_O[h0]).to(torch::kFloat64);
        auto q = w.blocks[1].attn.W_Q[h1].to(torch::kFloat64), k = w.blocks[1].attn.W_K[h1].to(torch::kFloat64);
        torch::Tensor right =
            kind == CompositionKind::Q ? torch::matmul(q, k.t())
            : kind == CompositionKind::K
                ? torch::matmul(k, q.t())
                : torch::matmul(w.blocks[1].attn.W_V[h1], w.blocks[1].attn.W_O[h1]).to(torch::kFloat64);
        double expected = (torch::matmul(ov, right).norm() / (ov.norm() * right.norm())).item<double>();
        EXPECT_NEAR(scores[0][h0][1][h1].item<double>(), expected, 1e-5);
      }
  }
}

// On the embedded demo model (vocabulary 128, heads of 16), whose layer-1 induction heads copy.
TEST(AnalysisHeads, OvCopyingScoreEqualsTheFullCircuitsEigenvalues) {
  auto model = load_demo_model();
  auto copying = ov_copying_scores(model);
  auto fraction = positive_eigenvalue_fraction(model);
  ASSERT_EQ(copying.sizes(), (std::vector<int64_t>{2, 4}));
  auto full = full_ov_circuits(model);
  for (int h : {0, 2}) {
    // All 128 eigenvalues of the materialised W_E·OV·W_U of L1Hh: beyond its d_head nonzero ones they are ~0, so the
    // ratio is the same.
    auto eig = torch::linalg_eigvals(full.select(0, 1).select(0, h).AB().to(torch::kFloat64));
    double expected = (torch::real(eig.sum()) / eig.abs().sum()).item<double>();
    EXPECT_NEAR(copying[1][h].item<double>(), expected, 1e-3) << "L1H" << h;
  }
  EXPECT_TRUE(((fraction >= 0) & (fraction <= 1)).all().item<bool>());
  // Induction heads copy: their OV circuits map a token to itself.
  auto tokens = repeated_random_sequences({.batch = 16, .period = 16, .high = 128, .seed = 1});
  auto scores = head_scores(model, tokens, {.period = 16});
  auto best_induction = scores.induction[1].argmax().item<int64_t>();
  fmt::print("OV copying scores: {}\n",
             fmt::join(std::vector<float>(copying.data_ptr<float>(), copying.data_ptr<float>() + 8), " "));
  EXPECT_GT(copying[1][best_induction].item<double>(), 0.5);
}

}  // namespace
}  // namespace arrakis
