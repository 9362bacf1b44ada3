// Toy models of superposition reproduce the paper's qualitative results (Elhage et al. 2022): dense features get one
// dimension each for the m most important, sparse ones share dimensions. Thresholds leave wide margins: over 80 seeds
// of the dense run and 40 of the sparse ones (n = 20, m = 5, 1500 steps) the dense model always kept exactly the
// top 5 features (superposition ≤ 0.004, D* in [1.000, 1.002]) and the sparse ones kept 8–13 with D* ≤ 0.63.
#include "arrakis/analysis/toy_superposition.hpp"
#include "test_support.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace arrakis {
namespace {

using torch::indexing::Slice;

// The paper's intro setting (n = 20, m = 5, importance 0.7^i), trained briefly with a larger peak learning rate.
ToySuperpositionOptions toy_test_options(double feature_probability, uint64_t seed = 0) {
  return {.n_features = 20,
          .n_hidden = 5,
          .feature_probability = feature_probability,
          .steps = 1500,
          .learning_rate = 2e-2,
          .seed = seed};
}

TEST(ToySuperposition, MeasuresKnownGeometries) {
  // Orthonormal features and an unused one: one dimension each, no interference.
  auto W = torch::zeros({3, 4}, torch::kFloat32);
  W.index_put_({Slice(), Slice(0, 3)}, torch::eye(3));
  auto r = measure_toy_superposition({W, torch::zeros({4})});
  EXPECT_EQ(r.features_represented, 3);
  EXPECT_NEAR(r.dimensions_per_feature, 1.0, 1e-12);
  EXPECT_LT(r.superposition.abs().max().item<double>(), 1e-12);
  EXPECT_TRUE(torch::allclose(r.feature_dimensionality, torch::tensor({1.0, 1.0, 1.0, 0.0}, torch::kFloat64)));
  EXPECT_EQ(r.feature_norms[3].item<double>(), 0.0);

  // A pentagon: five unit features in two dimensions, the paper's 2/5 dimensions per feature.
  auto angle = torch::arange(5, torch::kFloat64) * (2 * M_PI / 5);
  auto pentagon = measure_toy_superposition({torch::stack({angle.cos(), angle.sin()}), torch::zeros({5})});
  EXPECT_EQ(pentagon.features_represented, 5);
  EXPECT_NEAR(pentagon.dimensions_per_feature, 0.4, 1e-12);
  EXPECT_TRUE(torch::allclose(pentagon.feature_dimensionality, torch::full({5}, 0.4, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(pentagon.superposition, torch::full({5}, 1.5, torch::kFloat64)));  // Σ_{j≠i} cos²
}

TEST(ToySuperposition, DenseFeaturesGetOneDimensionEachForTheMostImportant) {
  auto r = train_toy_superposition_model(toy_test_options(1.0));
  const int64_t m = 5;
  ASSERT_EQ(r.model.W.sizes().vec(), (std::vector<int64_t>{5, 20}));
  EXPECT_EQ(r.features_represented, m) << r.feature_norms;
  auto kept = r.feature_norms.index({Slice(0, m)});
  auto dropped = r.feature_norms.index({Slice(m, torch::indexing::None)});
  EXPECT_GT(kept.min().item<double>(), 0.9) << r.feature_norms;  // the five most important
  EXPECT_LT(dropped.max().item<double>(), 0.2) << r.feature_norms;
  EXPECT_LT(r.superposition.index({Slice(0, m)}).max().item<double>(), 0.05) << r.superposition;  // orthogonal
  EXPECT_GT(r.feature_dimensionality.index({Slice(0, m)}).min().item<double>(), 0.95) << r.feature_dimensionality;
  EXPECT_NEAR(r.dimensions_per_feature, 1.0, 0.05);
  // A dropped feature is predicted by its mean, 1/2, through the bias.
  EXPECT_NEAR(r.model.b.index({Slice(m, torch::indexing::None)}).mean().item<double>(), 0.5, 0.1) << r.model.b;
}

TEST(ToySuperposition, SparseFeaturesAreStoredInSuperposition) {
  const int64_t m = 5;
  auto sparse = train_toy_superposition_model(toy_test_options(0.1));  // S = 0.9
  EXPECT_GE(sparse.features_represented, m + 2) << sparse.feature_norms;
  EXPECT_LT(sparse.dimensions_per_feature, 0.75);
  // Features share dimensions (an antipodal pair interferes by 1).
  auto represented = sparse.feature_norms > 0.5;
  EXPECT_GT(sparse.superposition.masked_select(represented).max().item<double>(), 0.5) << sparse.superposition;
  EXPECT_LE(sparse.feature_dimensionality.sum().item<double>(), m + 1e-6);

  auto sparser = train_toy_superposition_model(toy_test_options(0.01));  // S = 0.99
  EXPECT_GE(sparser.features_represented, m + 4) << sparser.feature_norms;
  EXPECT_LT(sparser.dimensions_per_feature, sparse.dimensions_per_feature);  // sparser, more superposition
  EXPECT_LT(sparser.loss, sparse.loss);
}

TEST(ToySuperposition, SameSeedGivesIdenticalWeights) {
  auto options = toy_test_options(0.1, 7);
  options.steps = 300;
  std::vector<int64_t> reported;
  options.progress = [&](int64_t step, double loss) {
    EXPECT_TRUE(std::isfinite(loss));
    reported.push_back(step);
  };
  auto a = train_toy_superposition_model(options);
  EXPECT_EQ(reported, (std::vector<int64_t>{100, 200, 300}));
  options.progress = nullptr;
  auto b = train_toy_superposition_model(options);
  EXPECT_TRUE(torch::equal(a.model.W, b.model.W));
  EXPECT_TRUE(torch::equal(a.model.b, b.model.b));
  EXPECT_EQ(a.loss, b.loss);
  options.seed = 8;
  EXPECT_FALSE(torch::equal(a.model.W, train_toy_superposition_model(options).model.W));

  auto json = a.to_json();
  EXPECT_EQ(json["n_features"], 20);
  EXPECT_EQ(json["n_hidden"], 5);
  EXPECT_EQ(json["features_represented"], a.features_represented);
  EXPECT_EQ(json["feature_norms"].size(), 20u);
  std::vector<std::string> names;
  for (auto& [name, tensor] : a.tensors()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"W", "b", "feature_norms", "superposition", "feature_dimensionality"}));
}

TEST(ToySuperposition, BadOptionsAreErrorsNamingTheField) {
  auto expect_field = [](const char* field, auto change) {
    ToySuperpositionOptions options;
    change(options);
    auto message = test::arrakis_error_of([&] { train_toy_superposition_model(options); });
    EXPECT_NE(message.find(field), std::string::npos) << message;
  };
  expect_field("n_features", [](auto& o) { o.n_features = 0; });
  expect_field("n_hidden", [](auto& o) { o.n_hidden = 0; });
  expect_field("feature_probability", [](auto& o) { o.feature_probability = 0; });
  expect_field("feature_probability", [](auto& o) { o.feature_probability = 1.5; });
  expect_field("feature_probability", [](auto& o) { o.feature_probability = NAN; });
  expect_field("importance_decay", [](auto& o) { o.importance_decay = -1; });
  expect_field("steps", [](auto& o) { o.steps = 0; });
  expect_field("batch", [](auto& o) { o.batch = -4; });
  expect_field("learning_rate", [](auto& o) { o.learning_rate = 0; });
  expect_field("weight_decay", [](auto& o) { o.weight_decay = -1; });
  auto message = test::arrakis_error_of([] { measure_toy_superposition({torch::zeros({5}), torch::zeros({5})}); });
  EXPECT_NE(message.find("W"), std::string::npos) << message;
}

}  // namespace
}  // namespace arrakis
