// Residual-stream decompositions, direct logit attribution, the logit lens and the shared metrics, checked against
// the model's own hook points (a different code path) on a GPT-2 fixture, a Llama (grouped-query, RMSNorm) fixture,
// a parallel-attention GPT-NeoX fixture, a Gemma fixture and the embedded demo model.
#include <fmt/format.h>

#include "arrakis/analysis/direct_logit_attribution.hpp"
#include "arrakis/analysis/logit_lens.hpp"
#include "arrakis/analysis/metrics.hpp"
#include "arrakis/analysis/residual_stream.hpp"
#include "arrakis/demo/demo_model.hpp"
#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;

struct Run {
  HookedTransformer model;
  torch::Tensor tokens, logits;
  ActivationCache cache;
};

// A seeded random model of the family and two prompts of 12 random tokens (the shape of ../shared's fixtures).
Run fixture_run(const std::string& family) {
  auto model = test::random_model(family);
  auto tokens = torch::randint(0, model.config().d_vocab, {2, 12}, seeded_generator(5));
  torch::NoGradGuard no_grad;
  auto [logits, cache] = model.run_with_cache(tokens);
  return {std::move(model), tokens, logits, std::move(cache)};
}

Run demo_run() {
  auto model = load_demo_model();
  torch::manual_seed(0);
  auto tokens = torch::randint(1, model.config().d_vocab, {3, 20}, torch::kInt64);
  torch::NoGradGuard no_grad;
  auto [logits, cache] = model.run_with_cache(tokens);
  return {std::move(model), tokens, logits, std::move(cache)};
}

// Every check of the decompositions on one model; `what` names it in failure messages.
void check_decompositions(Run& run, const std::string& what) {
  SCOPED_TRACE(what);
  const auto& c = run.model.config();
  const int n = static_cast<int>(c.n_layers);
  const auto& final_resid = run.cache.at("resid_post", n - 1);

  auto layers = decompose_resid(run.model, run.cache);
  EXPECT_LT(test::max_abs_diff(layers.components.sum(0), final_resid), 1e-4);
  EXPECT_EQ(layers.labels.size(), static_cast<std::size_t>(layers.components.size(0)));

  for (bool expand : {true, false}) {
    auto full = get_full_resid_decomposition(run.model, run.cache, {.expand_neurons = expand});
    EXPECT_LT(test::max_abs_diff(full.components.sum(0), final_resid), 1e-4) << "expand_neurons " << expand;
    EXPECT_EQ(full.labels.back(), "bias");
  }
  auto heads = stack_head_results(run.model, run.cache, {.incl_remainder = true});
  EXPECT_EQ(heads.components.size(0), c.n_layers * c.n_heads + 1);
  EXPECT_LT(test::max_abs_diff(heads.components.sum(0), final_resid), 1e-4);
  if (c.has_mlp()) {
    auto neurons = stack_neuron_results(run.model, run.cache, {.layer = 1, .incl_remainder = true});
    EXPECT_EQ(neurons.labels.front(), "L0N0");
    EXPECT_LT(test::max_abs_diff(neurons.components.sum(0), run.cache.at("resid_pre", 1)), 1e-4);
  }
  // Up to an intermediate layer, and at resid_mid (sequential models).
  auto first = decompose_resid(run.model, run.cache, {.layer = 1});
  EXPECT_LT(test::max_abs_diff(first.components.sum(0), run.cache.at("resid_pre", 1)), 1e-4);
  if (c.has_mlp() && !c.parallel_attn_mlp) {
    auto mid = get_full_resid_decomposition(run.model, run.cache, {.layer = 1, .mlp_input = true});
    EXPECT_LT(test::max_abs_diff(mid.components.sum(0), run.cache.at("resid_mid", 1)), 1e-4);
  }

  // Accumulated streams are the cached ones; per-head results from z equal the model's own hook_result.
  auto accumulated = accumulated_resid(run.model, run.cache, {.incl_mid = true});
  EXPECT_EQ(accumulated.labels.back(), "final_post");
  EXPECT_TRUE(torch::equal(accumulated.components[-1], final_resid));
  EXPECT_TRUE(torch::equal(accumulated.components[0], run.cache.at("resid_pre", 0)));
  run.model.set_use_attn_result(true);
  {
    torch::NoGradGuard no_grad;
    auto [logits, with_result] = run.model.run_with_cache(run.tokens, names_matching("hook_result$"));
    auto from_z = stack_head_results(run.model, run.cache, {.pos_slice = PosSlice::range(2, -1)});
    auto from_hook = stack_head_results(run.model, with_result, {.pos_slice = PosSlice::range(2, -1)});
    EXPECT_LT(test::max_abs_diff(from_z.components, from_hook.components), 1e-4);
  }
  run.model.set_use_attn_result(false);

  // logit_attrs of the full decomposition at the last position sum to the logit difference read from the logits,
  // minus what the final norm's bias and b_U add (final_bias_logit_diff).
  auto last = run.logits.index({Slice(), -1});
  auto answer = last.argmax(-1);
  auto wrong = last.argsort(-1, /*descending=*/true).index({Slice(), 3});
  auto full_last = get_full_resid_decomposition(run.model, run.cache, {.pos_slice = PosSlice::at(-1)});
  auto attrs = logit_attrs(run.model, run.cache, full_last.components, answer, {wrong, PosSlice::at(-1)});
  auto expected = logit_diff(run.logits, answer, wrong);
  EXPECT_LT(test::max_abs_diff(attrs.sum(0) + final_bias_logit_diff(run.model, answer, wrong), expected), 1e-4);
  // One fixed pair of tokens for every prompt (scalars) gives the same per-prompt sums.
  auto a0 = answer[0], w0 = wrong[0];
  auto scalar_attrs = logit_attrs(run.model, run.cache, full_last.components, a0, {w0, PosSlice::at(-1)});
  EXPECT_LT(test::max_abs_diff(scalar_attrs.sum(0) + final_bias_logit_diff(run.model, a0, w0),
                               logit_diff(run.logits, a0, w0)),
            1e-4);

  if (c.normalization != NormType::None) {
    // The correct per-layer normalisation is what each block's ln1 computes (the model's own hook_normalized) ...
    auto normalised = accumulated_resid(run.model, run.cache, {.apply_ln = ApplyLn::Recompute});
    for (int l = 0; l < n; ++l)
      EXPECT_LT(test::max_abs_diff(normalised.components[l], run.cache.at("normalized", l, "ln1")), 1e-4) << l;
    EXPECT_LT(test::max_abs_diff(normalised.components[n], run.cache["ln_final.hook_normalized"]), 1e-4);
    // ... while TransformerLens' cached final scale agrees only for the final stream.
    auto tl = accumulated_resid(run.model, run.cache, {.apply_ln = ApplyLn::CachedScale});
    EXPECT_LT(test::max_abs_diff(tl.components[n], run.cache["ln_final.hook_normalized"]), 1e-4);
    EXPECT_GT(test::max_abs_diff(tl.components[0], run.cache.at("normalized", 0, "ln1")), 1e-2);
  }
}

class AnalysisResidualFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(AnalysisResidualFamily, DecompositionsReconstructTheStream) {
  auto run = fixture_run(GetParam());
  // Grouped-query families are tested grouped-query.
  EXPECT_EQ(run.model.config().kv_heads() < run.model.config().n_heads, !GetParam().starts_with("gpt"));
  check_decompositions(run, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Families, AnalysisResidualFamily, ::testing::ValuesIn(test::model_families_under_test()),
                         test::family_test_name);

TEST(AnalysisResidual, DecompositionsReconstructTheStreamOnTheDemoModel) {
  auto run = demo_run();
  check_decompositions(run, "demo");
}

TEST(AnalysisResidual, PosSlicesSelectPositions) {
  auto run = demo_run();
  const auto& resid = run.cache.at("resid_post", 1);
  auto all = decompose_resid(run.model, run.cache).components;
  auto one = decompose_resid(run.model, run.cache, {.pos_slice = PosSlice::at(-2)}).components;
  EXPECT_TRUE(torch::equal(one, all.index({Slice(), Slice(), -2})));
  auto per_prompt = PosSlice::per_prompt(torch::tensor({0, 5, -1}));
  auto picked = decompose_resid(run.model, run.cache, {.pos_slice = per_prompt}).components;
  ASSERT_EQ(picked.sizes(), (std::vector<int64_t>{all.size(0), 3, resid.size(-1)}));
  EXPECT_TRUE(torch::equal(picked.index({Slice(), 1}), all.index({Slice(), 1, 5})));
  EXPECT_TRUE(torch::equal(picked.index({Slice(), 2}), all.index({Slice(), 2, -1})));
  auto attn_only = decompose_resid(run.model, run.cache, {.mode = ResidMode::Attn, .incl_embeds = false});
  EXPECT_EQ(attn_only.labels, (std::vector<std::string>{"0_attn_out", "1_attn_out"}));
  EXPECT_NE(test::error_of([&] { decompose_resid(run.model, run.cache, {.layer = 7}); }).find("layer 7"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { PosSlice::at(40).apply(resid, 1); }).find("position 40"), std::string::npos);
}

TEST(AnalysisLens, FinalLayerIsTheModelAndEveryLayerMatchesAStoppedForward) {
  auto run = fixture_run("gpt2");
  LogitLensOptions options;
  options.top_k = 4;
  auto lens = logit_lens(run.model, run.cache, options);
  const auto n = run.model.config().n_layers;
  ASSERT_EQ(lens.labels.size(), static_cast<std::size_t>(n + 1));
  // The last row is the model's own prediction: its top tokens, probabilities, and rank 0 for its argmax.
  auto probs = torch::softmax(run.logits, -1);
  auto [top_p, top_i] = probs.topk(4, -1);
  EXPECT_TRUE(torch::equal(lens.top_tokens[n], top_i));
  EXPECT_LT(test::max_abs_diff(lens.top_probs[n], top_p), 1e-5);
  EXPECT_TRUE(torch::equal(lens.targets, run.logits.argmax(-1)));
  EXPECT_EQ(lens.target_ranks[n].max().item<int64_t>(), 0);
  // Layer l decoded = a forward stopped before block l, then the final norm and the unembedding.
  torch::NoGradGuard no_grad;
  for (int l = 0; l < n; ++l) {
    ForwardOptions stop;
    stop.stop_at_layer = l;
    auto stream = run.model.forward(run.tokens, stop);
    auto layer_logits = run.model.unembed(run.model.ln_final(stream));
    auto layer_probs = torch::softmax(layer_logits, -1);
    EXPECT_LT(test::max_abs_diff(lens.target_probs[l], layer_probs.gather(-1, lens.targets.unsqueeze(-1)).squeeze(-1)),
              1e-5);
    // Rank by sorting: the target's place in the descending order.
    auto order = layer_logits.argsort(-1, /*descending=*/true);
    auto rank = (order == lens.targets.unsqueeze(-1)).to(torch::kInt64).argmax(-1);
    EXPECT_TRUE(torch::equal(lens.target_ranks[l], rank)) << "layer " << l;
  }
  // A tracked token.
  options.targets = torch::full(run.tokens.sizes(), 7, torch::kInt64);
  auto tracked = run_logit_lens(run.model, run.tokens, options);
  EXPECT_LT(test::max_abs_diff(tracked.target_probs[n], probs.index({"...", 7})), 1e-5);
  // TransformerLens' scale (the final layer's, for every layer) gives the same final row and different earlier ones.
  options.targets = lens.targets;
  options.final_cached_scale = true;
  auto tl = run_logit_lens(run.model, run.tokens, options);
  EXPECT_LT(test::max_abs_diff(tl.target_probs[n], lens.target_probs[n]), 1e-5);
  EXPECT_GT(test::max_abs_diff(tl.target_probs[0], lens.target_probs[0]), 1e-4);
}

TEST(AnalysisLens, DirectLogitAttributionSumsPerLayerPerHeadAndPerNeuron) {
  for (const char* family : {"gpt2", "llama"}) {
    SCOPED_TRACE(family);
    auto run = fixture_run(family);
    const auto& c = run.model.config();
    auto answer = torch::tensor({3, 9}), wrong = torch::tensor(17);
    auto dla = run_direct_logit_attribution(run.model, run.tokens,
                                            {.answer = answer, .wrong = wrong, .position = -1, .neurons = true});
    EXPECT_LT(test::max_abs_diff(dla.components.sum(0) + dla.bias, logit_diff(run.logits, answer, wrong)), 1e-4);
    EXPECT_LT(test::max_abs_diff(dla.total, logit_diff(run.logits, answer, wrong)), 1e-5);
    // The heads of a layer plus its b_O give that layer's attn_out; the neurons plus b_out give its mlp_out.
    auto b_O_stack = [&](int l, const torch::Tensor& bias) {
      return bias.reshape({1, 1, -1}).expand({1, run.tokens.size(0), c.d_model});
    };
    for (int l = 0; l < c.n_layers; ++l) {
      auto index = [&](const std::string& label) {
        auto it = std::find(dla.component_labels.begin(), dla.component_labels.end(), label);
        EXPECT_NE(it, dla.component_labels.end()) << label;
        return static_cast<int64_t>(it - dla.component_labels.begin());
      };
      auto b_O = logit_attrs(run.model, run.cache, b_O_stack(l, run.model.weights().blocks[l].attn.b_O), answer,
                             {wrong, PosSlice::at(-1)})[0];
      EXPECT_LT(test::max_abs_diff(dla.heads[l].sum(0) + b_O, dla.components[index(fmt::format("{}_attn_out", l))]),
                1e-4);
      auto b_out = run.model.weights().blocks[l].mlp.b_out;
      auto b_out_attr =
          b_out.defined() ? logit_attrs(run.model, run.cache, b_O_stack(l, b_out), answer, {wrong, PosSlice::at(-1)})[0]
                          : torch::zeros({run.tokens.size(0)});
      EXPECT_LT(
          test::max_abs_diff(dla.neurons[l].sum(0) + b_out_attr, dla.components[index(fmt::format("{}_mlp_out", l))]),
          1e-4);
    }
  }
}

TEST(AnalysisMetrics, MetricsMatchTheirDefinitions) {
  auto run = fixture_run("gpt2");
  const auto& logits = run.logits;
  auto diff = logit_diff_metric(5, 6)(logits);
  EXPECT_LT(test::max_abs_diff(diff, logits.index({Slice(), -1, 5}) - logits.index({Slice(), -1, 6})), 1e-6);
  EXPECT_NEAR(mean_logit_diff(logits, torch::tensor(5), torch::tensor(6)).item<double>(), diff.mean().item<double>(),
              1e-6);
  auto at_three = logit_diff_metric(torch::tensor({5, 7}), torch::tensor({6, 8}), ReadPosition(3))(logits);
  EXPECT_NEAR(at_three[1].item<double>(), (logits[1][3][7] - logits[1][3][8]).item<double>(), 1e-6);
  auto per_prompt = logprob_metric(5, ReadPosition(torch::tensor({2, 4})))(logits);
  EXPECT_NEAR(per_prompt[1].item<double>(), torch::log_softmax(logits[1][4], -1)[5].item<double>(), 1e-5);
  // Loss: the per-prompt means average to lm_loss.
  auto loss = loss_metric(run.tokens)(logits);
  EXPECT_NEAR(loss.mean().item<double>(), lm_loss(logits, run.tokens).item<double>(), 1e-5);
  // KL(reference || logits), against a direct float64 evaluation.
  auto kl = kl_metric(logits)(logits);
  EXPECT_LT(kl.abs().max().item<double>(), 1e-6);
  auto other = logits.flip(0);
  auto p = torch::softmax(logits.index({Slice(), -1}).to(torch::kFloat64), -1);
  auto q = torch::softmax(other.index({Slice(), -1}).to(torch::kFloat64), -1);
  EXPECT_LT(test::max_abs_diff(kl_metric(logits)(other), (p * (p / q).log()).sum(-1)), 1e-4);
  // Normalised: clean -> 1, corrupted -> 0.
  auto normalised = normalized(logit_diff_metric(5, 6), diff[0].item<double>(), diff[1].item<double>())(logits);
  EXPECT_NEAR(normalised[0].item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(normalised[1].item<double>(), 0.0, 1e-5);
  // Right padding: the last real position.
  auto mask = torch::ones({2, 12}, torch::kInt64);
  mask.index_put_({1, Slice(9)}, 0);
  auto last = ReadPosition::last_real(mask);
  EXPECT_TRUE(torch::equal(last.per_prompt, torch::tensor({11, 8})));
}

}  // namespace
}  // namespace arrakis
