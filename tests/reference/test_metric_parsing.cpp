// Metrics parsed from the command line's spelling, token texts through ../shared's GPT-2 tokenizer.
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

TEST(AnalysisMetrics, ParsesTheCommandLineSpelling) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = load_pretrained(test::shared_dir() / "fixtures/hf/gpt2");
  auto parsed = parse_metric("logit-diff:5,6", model);
  EXPECT_EQ(to_string(parsed.kind), "logit-diff");
  EXPECT_EQ(parsed.answer, 5);
  EXPECT_EQ(parsed.wrong, 6);
  EXPECT_TRUE(parsed.linear());
  EXPECT_EQ(parse_metric("logprob: 42", model).answer, 42);
  auto tokens = torch::randint(0, 512, {2, 6}, torch::kInt64);
  MetricContext context;
  context.tokens = tokens;
  EXPECT_EQ(to_string(parse_metric("loss", model, context).kind), "loss");
  EXPECT_NE(test::error_of([&] { parse_metric("loss", model); }).find("needs the tokens"), std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_metric("kl", model); }).find("reference logits"), std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_metric("logit-diff:5", model); }).find("logit-diff:A,B"), std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_metric("logit-diff:5,600", model); }).find("token id 600"), std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_metric("entropy", model); }).find("unknown metric 'entropy'"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_metric("logprob:Mary", model); }).find("no tokenizer"), std::string::npos);
  // Texts through a tokenizer: GPT-2's " the" is 262 and " a" 257 (both inside the fixture's 512-token vocabulary).
  model.set_tokenizer(load_tokenizer(test::shared_dir() / "tokenizers/gpt2"));
  auto texts = parse_metric("logit-diff: the, a", model);
  EXPECT_EQ(texts.answer, 262);
  EXPECT_EQ(texts.wrong, 257);
  EXPECT_NE(test::error_of([&] { parse_metric("logprob: Mary had", model); }).find("not a single token"),
            std::string::npos);
}

}  // namespace
}  // namespace arrakis
