// The `causal` tool on seeded random models: causal tracing against one full forward per cell with the hooks applied
// by hand (an independent recomputation of ROME's definition), and neuron interventions against edited weights.
#include <gtest/gtest.h>

#include "arrakis/tools/causal_tool.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;

class CausalFamily : public testing::TestWithParam<std::string> {};

// The trace's probability of `target` at the last position with (layer, position) restored, by hand: one forward of
// the whole model per cell, noise added to hook_embed at the subject, clean values written back at the restored
// points.
double traced_by_hand(HookedTransformer& model, const torch::Tensor& ids, const torch::Tensor& noise, int64_t start,
                      int64_t target, TraceKind kind, int layer, int64_t position, int64_t window) {
  const int n_layers = static_cast<int>(model.config().n_layers);
  auto point = [&](int l) -> std::string {
    return kind == TraceKind::Resid ? hooks::resid_post(l)
           : kind == TraceKind::Mlp ? hooks::mlp_out(l)
                                    : hooks::attn_out(l);
  };
  std::vector<int> layers;
  if (kind == TraceKind::Resid) {
    layers = {layer};
  } else {
    for (int l = std::max<int>(0, layer - window / 2); l < std::min<int>(n_layers, layer + window / 2); ++l)
      layers.push_back(l);
  }
  auto [clean_logits, clean] = model.run_with_cache(ids);
  const int64_t samples = noise.size(0);
  NamedHooks hooks_by_hand = {{hooks::embed(), [&](const torch::Tensor& x) {
                                 auto y = x.clone();
                                 for (int64_t s = 0; s < samples; ++s)
                                   for (int64_t i = 0; i < noise.size(1); ++i) y[s][start + i] += noise[s][i];
                                 return y;
                               }}};
  for (int l : layers)
    hooks_by_hand.emplace_back(point(l), [&, l](const torch::Tensor& x) {
      auto y = x.clone();
      for (int64_t s = 0; s < samples; ++s) y[s][position] = clean[point(l)][0][position];
      return y;
    });
  auto logits = model.run_with_hooks(ids.repeat({samples, 1}), hooks_by_hand);
  return torch::softmax(logits.select(1, -1).to(torch::kFloat64), -1).select(1, target).mean().item<double>();
}

TEST_P(CausalFamily, TracingWithGivenNoiseEqualsOneForwardPerCellByHand) {
  auto model = test::random_model(GetParam(), 21);
  CausalTool tool(model);
  const auto& c = model.config();
  auto generator = seeded_generator(4);
  const auto ids = torch::randint(0, c.d_vocab, {1, 6}, generator, torch::kLong);
  const int64_t target = 17, start = 1, end = 3;
  const auto noise = torch::randn({3, end - start, c.d_model}, generator) * 0.3;
  for (auto kind : {TraceKind::Resid, TraceKind::Mlp, TraceKind::Attn}) {
    SCOPED_TRACE(ArgumentType<TraceKind>::to_json(kind).dump());
    auto trace = tool.trace_token_probability({.tokens = ids,
                                               .target = target,
                                               .subject = {start, end},
                                               .kind = kind,
                                               .noise = {.values = noise},
                                               .window = 2});
    ASSERT_EQ(trace.scores.sizes(), (std::vector<int64_t>{c.n_layers, 6}));
    for (int l = 0; l < c.n_layers; ++l)
      for (int64_t p = 0; p < 6; ++p)
        EXPECT_NEAR(trace.scores[l][p].item<double>(), traced_by_hand(model, ids, noise, start, target, kind, l, p, 2),
                    1e-5)
            << "layer " << l << " position " << p;
    // Before the subject nothing was corrupted: restoring there restores nothing.
    EXPECT_NEAR(trace.scores[0][0].item<double>(), trace.corrupted_probability, 1e-6);
    EXPECT_TRUE(torch::allclose(trace.indirect_effect, trace.scores - trace.corrupted_probability));
  }
  // The last position after the last layer is all the logits read: restoring it gives back the clean probability.
  auto resid = tool.trace_token_probability(
      {.tokens = ids, .target = target, .subject = {start, end}, .noise = {.values = noise}});
  EXPECT_NEAR(resid.scores[c.n_layers - 1][5].item<double>(), resid.clean_probability, 1e-6);
  auto clean = torch::softmax(model.forward(ids).select(1, -1).to(torch::kFloat64), -1)[0][target].item<double>();
  EXPECT_NEAR(resid.clean_probability, clean, 1e-9);
}

TEST_P(CausalFamily, DrawnNoiseIsSeededAndScaledByTheEmbeddingsStandardDeviation) {
  auto model = test::random_model(GetParam(), 22);
  CausalTool tool(model);
  const auto ids = torch::tensor({{5, 6, 7, 8}}, torch::kLong);
  TraceTokenProbabilityArgs args{.tokens = ids, .target = 3, .subject = {0, 2}, .samples = 4, .seed = 9};
  auto a = tool.trace_token_probability(args);
  auto b = tool.trace_token_probability(args);
  EXPECT_TRUE(torch::equal(a.scores, b.scores));
  EXPECT_EQ(a.noise.sizes(), (std::vector<int64_t>{4, 2, model.config().d_model}));
  EXPECT_NEAR(a.noise_std, 3.0 * model.weights().W_E.to(torch::kFloat64).std().item<double>(), 1e-9);
  // Given the noise it drew, the trace is the same.
  auto given =
      tool.trace_token_probability({.tokens = ids, .target = 3, .subject = {0, 2}, .noise = {.values = a.noise}});
  EXPECT_TRUE(torch::allclose(given.scores, a.scores, 1e-9, 1e-12));

  auto message = test::error_of([&] { tool.trace_token_probability({.tokens = ids, .target = 3, .subject = {2, 2}}); });
  EXPECT_NE(message.find("subject [2, 2)"), std::string::npos) << message;
  message = test::error_of([&] {
    tool.trace_token_probability(
        {.tokens = ids, .target = 3, .subject = {0, 2}, .noise = {.values = torch::zeros({2, 3, 4})}});
  });
  EXPECT_NE(message.find("noise must be [samples, subject length 2"), std::string::npos) << message;
}

TEST_P(CausalFamily, ScalingANeuronByOneChangesNothingAndByZeroIsZeroingItsOutputWeights) {
  auto model = test::random_model(GetParam(), 23);
  CausalTool tool(model);
  auto generator = seeded_generator(5);
  const auto ids = torch::randint(0, model.config().d_vocab, {2, 5}, generator, torch::kLong);
  auto unchanged = tool.intervene_on_neuron({.tokens = ids, .layer = 1, .neuron = 7, .scale = 1.0});
  EXPECT_TRUE(torch::equal(unchanged.logits, unchanged.clean_logits));
  EXPECT_EQ(unchanged.change.abs().max().item<double>(), 0.0);

  auto ablated =
      tool.intervene_on_neuron({.tokens = ids, .layer = 1, .neuron = 7, .target = 11, .metric = "logit-diff:11,12"});
  auto& W_out = model.weights().blocks[1].mlp.W_out;
  const auto saved = W_out[7].clone();
  W_out[7].zero_();
  const auto edited = model.forward(ids).select(1, -1).to(torch::kFloat64);
  W_out[7].copy_(saved);
  EXPECT_TRUE(torch::allclose(ablated.logits, edited, 1e-5, 1e-6));
  EXPECT_GT(ablated.change.abs().max().item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(ablated.target_logit_change, ablated.change.select(1, 11)));
  EXPECT_TRUE(torch::allclose(ablated.metric_value - ablated.clean_metric,
                              ablated.change.select(1, 11) - ablated.change.select(1, 12), 1e-5, 1e-5));
  const int64_t up = ablated.top_increased[0][0].item<int64_t>();
  EXPECT_EQ(up, ablated.change[0].argmax().item<int64_t>());
  // Only at position 2: the last position's logits change only through attention from later layers... or not at all.
  auto at_two = tool.intervene_on_neuron({.tokens = ids, .layer = 1, .neuron = 7, .positions = {2}});
  EXPECT_EQ(at_two.change.abs().max().item<double>(), 0.0);  // layer 1 is the last: position 2 cannot reach 4
}

INSTANTIATE_TEST_SUITE_P(Families, CausalFamily, testing::ValuesIn(test::model_families_under_test()),
                         test::family_test_name);

}  // namespace
}  // namespace arrakis
