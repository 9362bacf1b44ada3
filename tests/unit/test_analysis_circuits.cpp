// FactoredMatrix and the OV/QK circuits against materialised products, on seeded random matrices and models (the
// detectors and composition scores on trained models: reference/test_trained_circuits.cpp).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arrakis/analysis/circuits.hpp"
#include "arrakis/analysis/factored_matrix.hpp"
#include "arrakis/analysis/fourier.hpp"
#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;

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

}  // namespace
}  // namespace arrakis
