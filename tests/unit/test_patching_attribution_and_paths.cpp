// Attribution patching against the first-order change of a tiny interpolated patch, and path patching against
// hand-built references.
#include <fmt/format.h>

#include "arrakis/analysis/attribution_patching.hpp"
#include "arrakis/analysis/path_patching.hpp"
#include "arrakis/demo/demo_model.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

PatchingRuns fixture_runs(int64_t vocab, uint64_t seed) {
  auto gen = seeded_generator(seed);
  PatchingRuns runs;
  runs.clean_tokens = torch::randint(0, vocab, {2, 6}, gen);
  runs.corrupted_tokens = torch::randint(0, vocab, {2, 6}, gen);
  return runs;
}

// The part of a hooked activation one cell addresses (the test's own indexing, independent of the library's).
torch::Tensor cell_of(const torch::Tensor& act, PatchComponent component, const std::vector<std::string>& dims,
                      const std::vector<int64_t>& index) {
  int64_t pos = -1, head = -1;
  for (std::size_t d = 1; d < dims.size(); ++d) (dims[d] == "position" ? pos : head) = index[d];
  if (component == PatchComponent::Pattern) {  // [b, head, q, k]
    auto x = act.select(1, head);
    return pos >= 0 ? x.select(1, pos) : x;
  }
  if (head < 0) return act.select(1, pos);  // [b, pos, d]
  auto x = act.select(2, head);             // [b, pos, head, e]
  return pos >= 0 ? x.select(1, pos) : x;
}

// d/dε metric(target with the cell moved to target + ε (source − target)) at ε = 0, by central differences.
double interpolation_slope(HookedTransformer& model, const PatchingRuns& runs, const Metric& metric,
                           PatchComponent component, const std::vector<std::string>& dims,
                           const std::vector<int64_t>& index, const ActivationCache& clean) {
  const auto name = patch_hook_name(model.config(), component, static_cast<int>(index[0]));
  const double eps = 1e-4;
  auto run = [&](double e) {
    auto logits = model.run_with_hooks(runs.corrupted_tokens, {{name, [&](const torch::Tensor& act) {
                                                                  auto part = cell_of(act, component, dims, index);
                                                                  auto source =
                                                                      cell_of(clean[name], component, dims, index);
                                                                  part.add_(e * (source - part));
                                                                }}});
    return metric(logits).mean().item<double>();
  };
  return (run(eps) - run(-eps)) / (2 * eps);
}

void expect_attribution_is_first_order(const std::string& fixture) {
  auto model = test::random_model(fixture);
  model.to(torch::kFloat64);  // so the finite differences measure the derivative, not float32 rounding
  auto runs = fixture_runs(512, 5);
  auto metric = logit_diff_metric(17, 42);
  auto clean = model.run_with_cache(runs.clean_tokens).second;
  struct Case {
    PatchComponent component;
    bool by_position;
  };
  for (auto [component, by_position] : std::vector<Case>{{PatchComponent::ResidPre, true},
                                                         {PatchComponent::ResidMid, true},
                                                         {PatchComponent::ResidPost, true},
                                                         {PatchComponent::AttnOut, true},
                                                         {PatchComponent::MlpOut, true},
                                                         {PatchComponent::Z, false},
                                                         {PatchComponent::Z, true},
                                                         {PatchComponent::Q, false},
                                                         {PatchComponent::K, true},
                                                         {PatchComponent::V, false},
                                                         {PatchComponent::Pattern, false},
                                                         {PatchComponent::Pattern, true}}) {
    if (!model_has(model.config(), patch_hook_kind(component))) continue;  // resid_mid of parallel blocks
    AttributionPatchingOptions options;
    options.component = component;
    options.by_position = by_position;
    auto result = attribution_patching(model, runs, metric, options);
    ASSERT_EQ(result.values.dim(), static_cast<int64_t>(result.dims.size()));
    auto flat = result.values.reshape({-1});
    double largest = 0;
    for (int64_t i = 0; i < flat.size(0); ++i) {
      std::vector<int64_t> index(result.dims.size());
      for (int64_t d = static_cast<int64_t>(index.size()) - 1, rest = i; d >= 0; --d) {
        index[d] = rest % result.values.size(d);
        rest /= result.values.size(d);
      }
      const double attribution = flat[i].item<double>();
      const double slope = interpolation_slope(model, runs, metric, component, result.dims, index, clean);
      largest = std::max(largest, std::abs(attribution));
      EXPECT_NEAR(attribution, slope, 1e-6 + 1e-4 * std::abs(slope))
          << fixture << " " << patch_component_name(component) << (by_position ? " by position" : "") << " cell " << i;
    }
    EXPECT_GT(largest, 1e-3) << patch_component_name(component);  // the check is not vacuous
  }
}

class PatchingFamilyFirstOrder : public ::testing::TestWithParam<std::string> {};

TEST_P(PatchingFamilyFirstOrder, AttributionIsTheFirstOrderEffectOfATinyPatch) {
  expect_attribution_is_first_order(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Families, PatchingFamilyFirstOrder, ::testing::ValuesIn(test::model_families_under_test()),
                         test::family_test_name);

// The unpatched runs' metrics, the result's shape, and no hooks left behind.
TEST(PatchingAttribution, ReportsTheMetricsOfBothRuns) {
  auto model = test::random_model("gpt2");
  auto runs = fixture_runs(512, 9);
  auto metric = logit_diff_metric(3, 4);
  auto result = attribution_patching(model, runs, metric, {});
  EXPECT_NEAR(result.clean_metric, metric(model(runs.clean_tokens)).mean().item<double>(), 1e-5);
  EXPECT_NEAR(result.corrupted_metric, metric(model(runs.corrupted_tokens)).mean().item<double>(), 1e-5);
  EXPECT_EQ(result.values.sizes().vec(), (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(model.hooks().size(), 0u);  // its backward hooks are gone
}

// Senders → logits on an attention-only model: with every later head frozen, the final residual stream moves by
// exactly the sender head's change of output, (z_clean − z_corrupted) W_O, so the patched logits are known in closed
// form.
TEST(PatchingPaths, HeadsToLogitsEqualTheClosedFormOnAnAttentionOnlyModel) {
  auto model = load_demo_model();  // the embedded induction model: two attention-only layers
  ASSERT_TRUE(model.config().attn_only);
  auto runs = fixture_runs(model.config().d_vocab, 3);
  auto metric = logit_diff_metric(1, 2);
  auto result = path_patching(model, runs, metric, {});
  auto clean = model.run_with_cache(runs.clean_tokens, names_matching("hook_z")).second;
  auto corrupted = model.run_with_cache(runs.corrupted_tokens, names_matching("hook_z")).second;
  ForwardOptions to_final;
  to_final.stop_at_layer = static_cast<int>(model.config().n_layers);
  auto final_resid = model.forward(runs.corrupted_tokens, to_final);
  for (int l = 0; l < model.config().n_layers; ++l)
    for (int64_t h = 0; h < model.config().n_heads; ++h) {
      auto dz = clean.at("z", l).select(2, h) - corrupted.at("z", l).select(2, h);
      auto moved = final_resid + torch::einsum("bpe,ed->bpd", {dz, model.weights().blocks[l].attn.W_O[h]});
      auto expected = metric(model.unembed(model.ln_final(moved))).mean().item<double>();
      EXPECT_NEAR(result.values[l][h].item<double>(), expected, 1e-4) << "L" << l << "H" << h;
    }
  // A last-layer sender reaches the logits directly only: path patching = activation patching of its z.
  ActivationPatchingOptions z;
  z.component = PatchComponent::Z;
  auto activation = activation_patching(model, runs, metric, z);
  const auto last = model.config().n_layers - 1;
  EXPECT_LT(test::max_abs_diff(result.values[last], activation.values[last]), 1e-4);
}

// A sender in the layer just before its receiver: no head lies between them, so path patching equals plain
// activation patching of the receiver's query/key/value with the value it takes when only the sender is patched.
void expect_adjacent_sender_is_plain_patching(const std::string& fixture) {
  auto model = test::random_model(fixture);
  const auto& config = model.config();
  auto runs = fixture_runs(512, 13);
  auto metric = logit_diff_metric(7, 8);
  auto clean = model.run_with_cache(runs.clean_tokens, names_matching("blocks.0.attn.hook_z")).second;
  const char* names[] = {"q", "k", "v"};
  for (auto input : {PathReceiver::Input::Q, PathReceiver::Input::K, PathReceiver::Input::V}) {
    const auto which = names[static_cast<int>(input)];
    PathReceiver receiver{1, 1, input};  // for k and v of the grouped-query fixture, key/value head 1
    PathPatchingOptions options;
    options.receivers = {receiver};
    auto result = path_patching(model, runs, metric, options);
    EXPECT_TRUE(std::isnan(result.values[1][0].item<double>()));  // layer 1 cannot reach layer 1's inputs
    for (int64_t sender = 0; sender < config.n_heads; ++sender) {
      const auto receiver_hook = fmt::format("blocks.1.attn.hook_{}", which);
      torch::Tensor recorded;
      model.run_with_hooks(runs.corrupted_tokens,
                           {{"blocks.0.attn.hook_z",
                             [&](const torch::Tensor& z) {
                               z.select(2, sender).copy_(clean["blocks.0.attn.hook_z"].select(2, sender));
                             }},
                            {receiver_hook, [&](const torch::Tensor& x) { recorded = x.select(2, 1).clone(); }}});
      auto logits = model.run_with_hooks(
          runs.corrupted_tokens, {{receiver_hook, [&](const torch::Tensor& x) { x.select(2, 1).copy_(recorded); }}});
      EXPECT_NEAR(result.values[0][sender].item<double>(), metric(logits).mean().item<double>(), 1e-4)
          << fixture << " sender H" << sender << " -> receiver " << which;
    }
    EXPECT_FALSE(model.use_split_qkv_input());  // restored
  }
}

class PatchingFamilyPaths : public ::testing::TestWithParam<std::string> {};

TEST_P(PatchingFamilyPaths, AdjacentSenderEqualsPlainPatchingOfTheReceiver) {
  expect_adjacent_sender_is_plain_patching(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Families, PatchingFamilyPaths, ::testing::ValuesIn(test::model_families_under_test()),
                         test::family_test_name);

}  // namespace
}  // namespace arrakis
