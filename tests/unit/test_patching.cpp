// Activation patching: the fast sweep (reused layers and positions, batched cells) against the naive one full
// forward per cell, on a seeded random model of every family (grouped-query where the family can be), for every
// component kind.
#include <fmt/format.h>

#include "arrakis/analysis/activation_patching.hpp"
#include "arrakis/demo/demo_model.hpp"
#include "arrakis/error.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

constexpr double kTolerance = 1e-4;

torch::Tensor random_tokens(int64_t batch, int64_t pos, uint64_t seed) {
  return torch::randint(0, 512, {batch, pos}, seeded_generator(seed));
}

// Clean prompts and two corruptions: a minimal pair (a few tokens changed, as in IOI-style experiments, so many
// cells are unchanged and earlier positions are reused) and one that differs everywhere.
PatchingRuns minimal_pair_runs() {
  PatchingRuns runs;
  runs.clean_tokens = random_tokens(2, 7, 11);
  runs.corrupted_tokens = runs.clean_tokens.clone();
  runs.corrupted_tokens.index_put_({0, 3}, (runs.clean_tokens.index({0, 3}) + 1) % 512);
  runs.corrupted_tokens.index_put_({1, 5}, (runs.clean_tokens.index({1, 5}) + 7) % 512);
  return runs;
}

PatchingRuns different_runs() {
  PatchingRuns runs;
  runs.clean_tokens = random_tokens(2, 6, 21);
  runs.corrupted_tokens = random_tokens(2, 6, 22);
  return runs;
}

struct Case {
  PatchComponent component;
  bool by_position;
};

std::vector<Case> every_case() {
  std::vector<Case> cases;
  for (auto c : {PatchComponent::ResidPre, PatchComponent::ResidMid, PatchComponent::ResidPost, PatchComponent::AttnOut,
                 PatchComponent::MlpOut})
    cases.push_back({c, true});
  for (auto c : {PatchComponent::Z, PatchComponent::Q, PatchComponent::K, PatchComponent::V, PatchComponent::Pattern})
    for (bool by_position : {false, true}) cases.push_back({c, by_position});
  return cases;
}

// Fast equals naive, cell for cell; returns the fast result.
PatchingResult expect_fast_equals_naive(HookedTransformer& model, const PatchingRuns& runs, const Metric& metric,
                                        ActivationPatchingOptions options, const std::string& what) {
  options.method = PatchingMethod::Naive;
  auto naive = activation_patching(model, runs, metric, options);
  options.method = PatchingMethod::Fast;
  auto fast = activation_patching(model, runs, metric, options);
  EXPECT_EQ(fast.values.sizes(), naive.values.sizes()) << what;
  EXPECT_LT(test::max_abs_diff(fast.values, naive.values), kTolerance) << what;
  EXPECT_EQ(fast.dims, naive.dims) << what;
  EXPECT_NEAR(fast.clean_metric, naive.clean_metric, 1e-6) << what;
  EXPECT_NEAR(fast.corrupted_metric, naive.corrupted_metric, 1e-6) << what;
  EXPECT_EQ(naive.cells_unchanged, 0) << what;  // the reference runs every cell
  return fast;
}

void expect_every_component_matches(const std::string& fixture) {
  auto model = test::random_model(fixture);
  const auto& config = model.config();
  const auto pair = minimal_pair_runs();
  const auto different = different_runs();
  auto last_logit_diff = logit_diff_metric(17, 42);
  for (const auto& c : every_case()) {
    if (!model_has(config, patch_hook_kind(c.component))) continue;  // resid_mid of parallel attention + MLP
    const auto what =
        fmt::format("{} {}{}", fixture, patch_component_name(c.component), c.by_position ? " by position" : "");
    ActivationPatchingOptions options;
    options.component = c.component;
    options.by_position = c.by_position;
    options.metric_reads_last_position = true;
    auto fast = expect_fast_equals_naive(model, pair, last_logit_diff, options, what + " (minimal pair)");
    // Reading only the metric's two logits gives the same values.
    options.metric_reads_tokens = {17, 42};
    expect_fast_equals_naive(model, pair, last_logit_diff, options, what + " (minimal pair, two logits)");
    options.metric_reads_tokens.clear();
    // Shapes: [layer, pos], [layer, head] or [layer, pos, head]; k and v have one head per key/value head.
    const int64_t heads = patch_heads(config, c.component);
    std::vector<int64_t> shape = !is_head_component(c.component) ? std::vector<int64_t>{config.n_layers, 7}
                                 : c.by_position                 ? std::vector<int64_t>{config.n_layers, 7, heads}
                                                                 : std::vector<int64_t>{config.n_layers, heads};
    EXPECT_EQ(fast.values.sizes().vec(), shape) << what;
    // Positions before the first corrupted token are identical in both runs: those cells are the corrupted run.
    if (!is_head_component(c.component) || c.by_position) {
      EXPECT_GT(fast.cells_unchanged, 0) << what;
    }
    // resid_pre: block 0 is the embedding, changed only at the corrupted positions 3 and 5 (5 of 7 unchanged); later
    // blocks mix positions, so positions 0-2 (before the first corrupted token) are unchanged.
    if (c.component == PatchComponent::ResidPre) {
      EXPECT_EQ(fast.cells_unchanged, 5 + 3 * (config.n_layers - 1)) << what;
    }
    // The patch does something somewhere: far above float32 rounding (~1e-6). A query patched in a random model moves
    // a last-position metric by a few 1e-4 only (GPT-NeoX: its queries rotate a quarter of their dimensions).
    EXPECT_GT((fast.values - fast.corrupted_metric).abs().max().item<double>(), 1e-4) << what;

    // Prompts that differ everywhere; noising; a metric that reads every position (the loss).
    options.metric_reads_last_position = false;
    options.noising = true;
    expect_fast_equals_naive(model, different, loss_metric(different.clean_tokens), options, what + " (noising, loss)");
  }
  // Grouped-query families are tested grouped-query (one head per key/value head in k and v).
  EXPECT_EQ(config.kv_heads() != config.n_heads, !fixture.starts_with("gpt"));
}

class PatchingFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(PatchingFamily, FastEqualsNaiveForEveryComponent) { expect_every_component_matches(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Families, PatchingFamily, ::testing::ValuesIn(test::model_families_under_test()),
                         test::family_test_name);

// The naive path is itself checked against a hand-written patch: resid_pre of the last layer at the last position.
TEST(PatchingActivation, NaiveCellIsTheHookedForward) {
  auto model = test::random_model("gpt2");
  auto runs = different_runs();
  auto metric = logit_diff_metric(3, 5);
  ActivationPatchingOptions options;
  options.method = PatchingMethod::Naive;
  auto result = activation_patching(model, runs, metric, options);
  auto [clean_logits, clean_cache] = model.run_with_cache(runs.clean_tokens);
  const auto name = "blocks.1.hook_resid_pre";
  auto logits = model.run_with_hooks(runs.corrupted_tokens, {{name, [&](const torch::Tensor& resid) {
                                                                auto out = resid.clone();
                                                                out.select(1, 5) = clean_cache[name].select(1, 5);
                                                                return out;
                                                              }}});
  EXPECT_NEAR(result.values[1][5].item<double>(), metric(logits).mean().item<double>(), 1e-6);
  EXPECT_NEAR(result.clean_metric, metric(clean_logits).mean().item<double>(), 1e-6);
  // Patching the last block's output at the last position gives the clean run's value there.
  options.component = PatchComponent::ResidPost;
  auto post = activation_patching(model, runs, metric, options);
  EXPECT_NEAR(post.values[1][5].item<double>(), post.clean_metric, 1e-4);
}

TEST(PatchingActivation, LeftPaddedBatchAndProgress) {
  auto model = test::random_model("llama");
  auto runs = minimal_pair_runs();
  auto mask = torch::ones({2, 7}, torch::kInt64);
  mask.index_put_({1, torch::indexing::Slice(0, 2)}, 0);  // prompt 1 is left-padded by two
  runs.clean_attention_mask = runs.corrupted_attention_mask = mask;
  ActivationPatchingOptions options;
  options.component = PatchComponent::ResidPre;
  auto metric = loss_metric(runs.corrupted_tokens, mask);
  expect_fast_equals_naive(model, runs, metric, options, "left padded");
  std::vector<int64_t> seen;
  options.progress = [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 14);
    seen.push_back(done);
  };
  activation_patching(model, runs, metric, options);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), 14);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

TEST(PatchingActivation, ClearErrors) {
  auto model = test::random_model("gpt2");
  PatchingRuns runs;
  runs.clean_tokens = random_tokens(2, 6, 1);
  runs.corrupted_tokens = random_tokens(2, 5, 2);
  auto metric = logit_diff_metric(1, 2);
  EXPECT_NE(test::error_of([&] { activation_patching(model, runs, metric, {}); }).find("must have the same shape"),
            std::string::npos);
  runs.corrupted_tokens = random_tokens(2, 6, 2);
  auto guard = model.add_hook("blocks.0.hook_resid_pre", [](const torch::Tensor&) {});
  EXPECT_NE(test::error_of([&] { activation_patching(model, runs, metric, {}); }).find("hooks registered"),
            std::string::npos);
  guard.remove();
  Metric bad = [](const torch::Tensor& logits) { return logits.sum(-1); };  // [batch, pos]: not one per prompt
  EXPECT_NE(test::error_of([&] { activation_patching(model, runs, bad, {}); }).find("one value per prompt"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { parse_patch_component("resid"); }).find("'resid_pre'"), std::string::npos);
  auto attention_only = load_demo_model();
  const auto vocab = attention_only.config().d_vocab;
  runs.clean_tokens = torch::randint(0, vocab, {2, 6}, seeded_generator(3));
  runs.corrupted_tokens = torch::randint(0, vocab, {2, 6}, seeded_generator(4));
  ActivationPatchingOptions options;
  options.component = PatchComponent::MlpOut;
  EXPECT_NE(test::error_of([&] { activation_patching(attention_only, runs, metric, options); }).find("attention-only"),
            std::string::npos);
}

}  // namespace
}  // namespace arrakis
