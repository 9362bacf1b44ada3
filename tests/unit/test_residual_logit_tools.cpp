// The `residual`, `decomposer`, `logit` and `logit_lens` tools on seeded random models: decompositions reconstruct
// what they decompose, integrated gradients is complete, gradient x input equals a finite difference, and the logit
// methods agree with the forward's own logits.
#include <gtest/gtest.h>

#include <algorithm>

#include "arrakis/experiments/builtin_tools.hpp"
#include "arrakis/tools/decomposer_tool.hpp"
#include "arrakis/tools/logit_tool.hpp"
#include "arrakis/tools/residual_tool.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using test::random_tokens;

class ResidualToolsFamily : public testing::TestWithParam<std::string> {};

TEST_P(ResidualToolsFamily, DecompositionsReconstructWhatTheyDecompose) {
  auto model = test::random_model(GetParam(), 31);
  ResidualTool residual(model);
  DecomposerTool decomposer(model);
  const auto tokens = random_tokens(model, 2, 6, 1);
  for (int64_t layer : {0, 1})
    for (bool per_head : {false, true}) {
      auto d = residual.residual_decomposition({.tokens = tokens, .layer = layer, .per_head = per_head});
      EXPECT_LT((d.components.sum(0) - d.residual).abs().max().item<double>(), 1e-4) << layer << per_head;
      EXPECT_TRUE(torch::allclose(d.shares.sum(0), torch::ones({2, 6}, torch::kFloat64), 1e-4, 1e-4));
      EXPECT_NE(std::find(d.labels.begin(), d.labels.end(), "embed"), d.labels.end());
    }
  auto moved = residual.residual_movement({.tokens = tokens, .layer1 = -1, .layer2 = 1});
  EXPECT_LT((moved.parts.sum(0) - moved.delta).abs().max().item<double>(), 1e-4);
  EXPECT_EQ(moved.labels, (std::vector<std::string>{"0_attn_out", "0_mlp_out", "1_attn_out", "1_mlp_out"}));
  auto [logits, cache] = model.run_with_cache(tokens);
  const auto x1 = cache[hooks::resid_pre(0)].to(torch::kFloat64), x2 = cache[hooks::resid_post(1)].to(torch::kFloat64);
  EXPECT_TRUE(torch::allclose(moved.relative_change, (x2 - x1).norm(2, -1) / x1.norm(2, -1), 1e-9, 1e-9));
  EXPECT_TRUE(torch::allclose(moved.cosine, torch::cosine_similarity(x1, x2, -1), 1e-6, 1e-6));

  const bool learned = model.config().positional_embedding == PositionalEmbedding::Learned;
  auto finest = decomposer.decompose_residual({.tokens = tokens, .layer = 1, .top_k = 5, .position = -2});
  EXPECT_EQ(finest.position, 4);
  EXPECT_LT((finest.components.sum(0) - finest.residual).abs().max().item<double>(), 1e-4);
  EXPECT_EQ(
      static_cast<int64_t>(finest.labels.size()),
      1 + learned + 2 * model.config().n_heads + 2 * model.config().d_mlp + 1);  // embeddings, heads, neurons, bias
  ASSERT_EQ(finest.top.size(), 5u);
  EXPECT_GE(std::abs(finest.top[0].contribution), std::abs(finest.top[4].contribution));

  auto basis = decomposer.mlp_basis({.layer = 1, .top_k = 4});
  const auto& mlp = model.weights().blocks[1].mlp;
  const auto W_out = mlp.W_out.to(torch::kFloat64);
  // The top write direction is W_out's top right singular vector: ‖W_out v‖ is its singular value.
  EXPECT_NEAR(torch::matmul(W_out, basis.write_directions[0]).norm().item<double>(),
              basis.write_values[0].item<double>(), 1e-9);
  EXPECT_NEAR(torch::matmul(basis.read_directions[0], mlp.W_in.to(torch::kFloat64)).norm().item<double>(),
              basis.read_values[0].item<double>(), 1e-9);
  EXPECT_EQ(basis.gate_values.defined(), mlp.W_gate.defined());
}

TEST_P(ResidualToolsFamily, IntegratedGradientsIsCompleteAndGradientTimesInputIsAFiniteDifference) {
  auto model = test::random_model(GetParam(), 32);
  ResidualTool tool(model);
  const auto tokens = random_tokens(model, 2, 5, 2);
  const int64_t target = 9;
  // 64 points suffice where f changes smoothly along the path. Gemma multiplies its embeddings by √d_model (8 here)
  // and its norms' eps is 1e-6: between α = 1e-4.5 and 1e-2.5 the logit swings back and forth as the first norm
  // leaves its linear regime, and 64 points leave a 1-2 % gap there; 256 close it to 1e-6.
  const int64_t steps = GetParam() == "gemma" ? 256 : 64;
  auto ig = tool.feature_attribution({.tokens = tokens, .target = target, .steps = steps});
  const auto gap = ig.attributions.sum(-1) - (ig.logit - ig.baseline_logit);
  EXPECT_LT((gap.abs() / (ig.logit - ig.baseline_logit).abs()).max().item<double>(), 0.01) << gap;
  auto logits = model.forward(tokens);
  EXPECT_TRUE(torch::allclose(ig.logit, logits.select(1, -1).select(1, target).to(torch::kFloat64), 1e-5, 1e-5));

  // From a token baseline: complete too, and f(baseline) is the model on that token at every position.
  auto from_token =
      tool.feature_attribution({.tokens = tokens, .target = target, .steps = 32, .baseline = {.token = 3}});
  const auto token_gap = from_token.attributions.sum(-1) - (from_token.logit - from_token.baseline_logit);
  EXPECT_LT((token_gap.abs() / (from_token.logit - from_token.baseline_logit).abs()).max().item<double>(), 0.01)
      << token_gap;
  const auto on_baseline = model.forward(torch::full_like(tokens, 3)).select(1, -1).select(1, target);
  EXPECT_TRUE(torch::allclose(from_token.baseline_logit, on_baseline.to(torch::kFloat64), 1e-5, 1e-5));

  // A metric instead of one logit: logit-diff's attributions are the difference of the two tokens' (IG is linear).
  auto of_metric = tool.feature_attribution({.tokens = tokens, .metric = "logit-diff:9,4", .steps = 16});
  auto of_nine = tool.feature_attribution({.tokens = tokens, .target = 9, .steps = 16});
  auto of_four = tool.feature_attribution({.tokens = tokens, .target = 4, .steps = 16});
  EXPECT_TRUE(torch::allclose(of_metric.attributions, of_nine.attributions - of_four.attributions, 1e-4, 1e-4));

  // Gradient x input at position p is d/dε f((1 + ε) x_p) at 0: a central difference over the input embeddings.
  auto gxi =
      tool.feature_attribution({.tokens = tokens, .target = target, .method_used = AttributionMethod::GradientXInput});
  const bool learned = model.config().positional_embedding == PositionalEmbedding::Learned;
  for (int64_t p = 0; p < 5; ++p) {
    auto logit_scaled = [&](double factor) {
      auto scale_at_p = [&](const torch::Tensor& x) {
        auto y = x.clone();
        y.select(1, p).mul_(factor);
        return y;
      };
      NamedHooks hooks_by_hand = {{hooks::embed(), scale_at_p}};
      if (learned) hooks_by_hand.emplace_back(hooks::pos_embed(), scale_at_p);
      return model.run_with_hooks(tokens, hooks_by_hand).select(1, -1).select(1, target).to(torch::kFloat64);
    };
    const double h = 1e-2;
    const auto difference = (logit_scaled(1 + h) - logit_scaled(1 - h)) / (2 * h);
    EXPECT_TRUE(torch::allclose(gxi.attributions.select(1, p), difference, 2e-2, 2e-3))
        << "position " << p << ": " << gxi.attributions.select(1, p) << " vs " << difference;
  }
}

TEST_P(ResidualToolsFamily, LogitMethodsAgreeWithTheForwardsLogits) {
  auto model = test::random_model(GetParam(), 33);
  LogitTool logit(model);
  LogitLensTool lens(model);
  const auto tokens = random_tokens(model, 2, 6, 3);
  const auto logits = model.forward(tokens).select(1, -1).to(torch::kFloat64);
  const int64_t target = 12, wrong = 40;

  auto la = logit.logit_attribution({.tokens = tokens, .target = target, .wrong = wrong, .neurons = true});
  const auto difference = logits.select(1, target) - logits.select(1, wrong);
  EXPECT_TRUE(torch::allclose(la.total, difference, 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(la.components.sum(0) + la.bias, difference, 1e-4, 1e-4));
  ASSERT_TRUE(la.neurons.defined());

  auto course = logit.track_token_circulation({.tokens = tokens, .target = target});
  ASSERT_EQ(course.boundaries.back(), "final_post");
  const auto probs = torch::softmax(logits, -1);
  EXPECT_TRUE(torch::allclose(course.probabilities[-1], probs.select(1, target), 1e-6, 1e-9));
  EXPECT_TRUE(torch::allclose(course.logits[-1], logits.select(1, target), 1e-4, 1e-4));
  EXPECT_TRUE(torch::equal(course.ranks[-1], (logits > logits.select(1, target).unsqueeze(1)).sum(1)));

  auto per_layer = lens.layer_attributions({.tokens = tokens, .target = target});
  auto single = logit.logit_attribution({.tokens = tokens, .target = target});
  EXPECT_TRUE(torch::allclose(per_layer.attn.sum(0) + per_layer.mlp.sum(0) + per_layer.embeddings + single.bias,
                              logits.select(1, target), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(per_layer.attn, course.attn_contributions));

  auto final_lens = lens.logit_lens({.tokens = tokens, .target = target, .layer = model.config().n_layers, .top_k = 3});
  EXPECT_TRUE(torch::allclose(final_lens.probability, probs.select(1, target), 1e-6, 1e-9));
  EXPECT_TRUE(torch::equal(final_lens.top_tokens.select(1, 0), logits.argmax(-1)));
  auto first = lens.logit_lens({.tokens = tokens, .target = target, .layer = 0});
  EXPECT_TRUE(torch::allclose(first.probability, course.probabilities[0], 1e-9, 1e-12));
}

INSTANTIATE_TEST_SUITE_P(Families, ResidualToolsFamily, testing::ValuesIn(test::model_families_under_test()),
                         test::family_test_name);

}  // namespace
}  // namespace arrakis
