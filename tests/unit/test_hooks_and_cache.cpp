// Hooks and the activation cache on a seeded random GPT-2: reading, replacing, removing, gradients, and the cache's
// identities.
#include <torch/autograd.h>

#include "arrakis/error.hpp"
#include "arrakis/hooks/activation_cache.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;

HookedTransformer gpt2_fixture() { return test::random_model("gpt2"); }
torch::Tensor fixture_tokens() { return torch::randint(0, 512, {3, 12}, seeded_generator(7)); }

// An independent forward of a GPT-2-style model (LayerNorm, learned positions, tanh-GELU), written with einsum over
// the TransformerLens-layout weights, optionally with one head's z zeroed.
torch::Tensor reference_forward(const HookedTransformer& model, const torch::Tensor& tokens, int zero_layer = -1,
                                int zero_head = -1) {
  const auto& c = model.config();
  const auto& w = model.weights();
  const int64_t pos = tokens.size(1);
  auto layer_norm = [&](const torch::Tensor& x, const NormWeights& n) {
    auto centred = x - x.mean(-1, true);
    return centred / (centred.pow(2).mean(-1, true) + c.eps).sqrt() * n.w + n.b;
  };
  auto gelu_new = [](const torch::Tensor& x) {
    return 0.5 * x * (1.0 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))));
  };
  auto x = w.W_E.index({tokens}) + w.W_pos.index({torch::arange(pos)});
  auto causal = torch::ones({pos, pos}, torch::kBool).tril();
  for (int l = 0; l < c.n_layers; ++l) {
    const auto& b = w.blocks[l];
    auto h = layer_norm(x, b.ln1);
    auto q = torch::einsum("bpd,hde->bphe", {h, b.attn.W_Q}) + b.attn.b_Q;
    auto k = torch::einsum("bpd,hde->bphe", {h, b.attn.W_K}) + b.attn.b_K;
    auto v = torch::einsum("bpd,hde->bphe", {h, b.attn.W_V}) + b.attn.b_V;
    auto scores = torch::einsum("bqhe,bkhe->bhqk", {q, k}) / std::sqrt(static_cast<double>(c.d_head));
    auto pattern = torch::softmax(scores.masked_fill(causal.logical_not(), -INFINITY), -1);
    auto z = torch::einsum("bhqk,bkhe->bqhe", {pattern, v});
    if (l == zero_layer) z.index_put_({Slice(), Slice(), zero_head}, 0.0);
    x = x + torch::einsum("bqhe,hed->bqd", {z, b.attn.W_O}) + b.attn.b_O;
    auto post = gelu_new(torch::einsum("bpd,dm->bpm", {layer_norm(x, b.ln2), b.mlp.W_in}) + b.mlp.b_in);
    x = x + torch::einsum("bpm,md->bpd", {post, b.mlp.W_out}) + b.mlp.b_out;
  }
  return torch::einsum("bpd,dv->bpv", {layer_norm(x, w.ln_final), w.W_U});
}

TEST(Hooks, ZeroingOneHeadChangesLogitsExactlyAsAnIndependentForwardSays) {
  auto model = gpt2_fixture();
  auto tokens = fixture_tokens();
  auto original = model(tokens);
  EXPECT_LT(test::max_abs_diff(original, reference_forward(model, tokens)), 1e-4);
  {
    auto guard = model.add_hook("blocks.1.attn.hook_z", [](const torch::Tensor& z) {
      auto out = z.clone();
      out.index_put_({Slice(), Slice(), 2}, 0.0);
      return out;
    });
    auto patched = model(tokens);
    auto expected = reference_forward(model, tokens, 1, 2);
    EXPECT_LT(test::max_abs_diff(patched, expected), 1e-4);
    EXPECT_GT(test::max_abs_diff(patched, original), 1e-3);  // the ablation did something
  }
  EXPECT_TRUE(torch::equal(model(tokens), original));  // guard gone: bit for bit the original
  EXPECT_EQ(model.hooks().size(), 0u);
}

TEST(Hooks, InPlaceEditsAndReturnedReplacementsBothWork) {
  auto model = gpt2_fixture();
  auto tokens = fixture_tokens();
  auto by_return = model.run_with_hooks(
      tokens, {{"blocks.0.hook_mlp_out", [](const torch::Tensor& t) { return torch::zeros_like(t); }}});
  auto in_place = model.run_with_hooks(tokens, {{"blocks.0.hook_mlp_out", [](const torch::Tensor& t) { t.zero_(); }}});
  EXPECT_TRUE(torch::equal(by_return, in_place));
}

TEST(Hooks, UnknownNameListsTheClosestValidNames) {
  auto model = gpt2_fixture();
  auto message =
      test::error_of([&] { auto g = model.add_hook("blocks.0.attn.hook_patern", [](const torch::Tensor&) {}); });
  EXPECT_NE(message.find("unknown hook point 'blocks.0.attn.hook_patern'"), std::string::npos) << message;
  EXPECT_NE(message.find("'blocks.0.attn.hook_pattern'"), std::string::npos) << message;
  message = test::error_of([&] { model.run_with_cache(fixture_tokens(), NameFilter{"blocks.9.hook_resid_pre"}); });
  EXPECT_NE(message.find("'blocks.9.hook_resid_pre'"), std::string::npos) << message;
  message = test::error_of([&] { auto g = model.add_hook("blocks.0.attn.hook_result", [](const torch::Tensor&) {}); });
  EXPECT_NE(message.find("set_use_attn_result(true)"), std::string::npos) << message;
}

TEST(Hooks, ReplacementOfTheWrongShapeIsAnErrorNamingTheHook) {
  auto model = gpt2_fixture();
  auto message = test::error_of([&] {
    model.run_with_hooks(fixture_tokens(), {{"blocks.1.hook_resid_mid", [](const torch::Tensor& t) {
                                               return t.index({Slice(), 0});
                                             }}});
  });
  EXPECT_NE(message.find("'blocks.1.hook_resid_mid' returned shape"), std::string::npos) << message;
  EXPECT_EQ(model.hooks().size(), 0u);  // run_with_hooks removed its hook despite the error
}

TEST(Hooks, BackwardHooksSeeAndReplaceGradients) {
  auto model = gpt2_fixture();
  auto tokens = fixture_tokens();
  // Reference: make resid_pre of block 1 a leaf with a forward hook and ask autograd for its gradient.
  torch::Tensor leaf;
  auto reference_guard = model.add_hook("blocks.1.hook_resid_pre", [&](const torch::Tensor& t) {
    leaf = t.detach().requires_grad_(true);
    return leaf;
  });
  auto loss = lm_loss(model(tokens), tokens);
  auto expected = torch::autograd::grad({loss}, {leaf})[0];
  reference_guard.remove();

  torch::Tensor seen;
  {
    auto guard = model.add_hook(
        "blocks.1.hook_resid_pre", [&](const torch::Tensor& g) { seen = g.clone(); }, HookDirection::Backward);
    lm_loss(model(tokens), tokens).backward();
  }
  ASSERT_TRUE(seen.defined());
  EXPECT_LT(test::max_abs_diff(seen, expected), 1e-6);

  // A backward hook that zeroes the gradient at resid_pre of block 1 stops everything below it.
  torch::Tensor embed_grad;
  auto zero = model.add_hook(
      "blocks.1.hook_resid_pre", [](const torch::Tensor& g) { return torch::zeros_like(g); }, HookDirection::Backward);
  auto watch = model.add_hook(
      "hook_embed", [&](const torch::Tensor& g) { embed_grad = g.clone(); }, HookDirection::Backward);
  lm_loss(model(tokens), tokens).backward();
  ASSERT_TRUE(embed_grad.defined());
  EXPECT_EQ(embed_grad.abs().max().item<double>(), 0.0);
}

TEST(Hooks, BackwardHookRemovedBeforeBackwardDoesNotRun) {
  auto model = gpt2_fixture();
  int calls = 0;
  auto guard = model.add_hook(
      "blocks.0.hook_resid_post", [&](const torch::Tensor&) { ++calls; }, HookDirection::Backward);
  auto loss = lm_loss(model(fixture_tokens()), fixture_tokens());
  guard.remove();
  loss.backward();
  EXPECT_EQ(calls, 0);
}

TEST(Cache, ResidualStreamIdentitiesHoldAndPatternsSumToOne) {
  auto model = gpt2_fixture();
  auto [logits, cache] = model.run_with_cache(fixture_tokens());
  const int n = static_cast<int>(model.config().n_layers);
  for (int l = 0; l < n; ++l) {
    EXPECT_TRUE(torch::equal(cache.at("resid_pre", l) + cache.at("attn_out", l), cache.at("resid_mid", l))) << l;
    EXPECT_TRUE(torch::equal(cache.at("resid_mid", l) + cache.at("mlp_out", l), cache.at("resid_post", l))) << l;
    if (l + 1 < n) {
      EXPECT_TRUE(torch::equal(cache.at("resid_post", l), cache.at("resid_pre", l + 1))) << l;
    }
    auto sums = cache.at("pattern", l).sum(-1);
    EXPECT_LT(test::max_abs_diff(sums, torch::ones_like(sums)), 1e-5);
    // ln1.hook_normalized is the centred input divided by hook_scale, before the weights.
    auto x = cache.at("resid_pre", l);
    auto centred = x - x.mean(-1, true);
    EXPECT_LT(test::max_abs_diff(cache.at("normalized", l, "ln1"), centred / cache.at("scale", l, "ln1")), 1e-6);
  }
  // Causal: no weight on future keys; scores there are -inf as in TransformerLens.
  auto scores = cache.at("attn_scores", 0);
  EXPECT_TRUE(torch::isinf(scores.index({0, 0, 0, 1})).item<bool>());
  EXPECT_EQ(cache.at("pattern", 0).index({0, 0, 0, 1}).item<float>(), 0.0f);
  EXPECT_EQ(cache.size(), model.hook_names().size());
  EXPECT_TRUE(torch::equal(model.unembed(model.ln_final(cache.at("resid_post", n - 1))), logits));
}

TEST(Cache, NamesFilterAndSaveLoad) {
  auto model = gpt2_fixture();
  auto tokens = fixture_tokens();
  auto [logits, cache] = model.run_with_cache(tokens, names_matching("hook_resid_(pre|post)$"));
  EXPECT_EQ(cache.size(), 4u);
  EXPECT_TRUE(cache.contains("blocks.1.hook_resid_post"));
  auto listed = model.run_with_cache(tokens, NameFilter{"hook_embed", "blocks.0.attn.hook_z"}).second;
  EXPECT_EQ(listed.names(), (std::vector<std::string>{"hook_embed", "blocks.0.attn.hook_z"}));

  auto path = test::temp_dir("cache-save") / "cache.safetensors";
  cache.save(path, {{"logits", logits}});
  auto loaded = ActivationCache::load(path);
  EXPECT_TRUE(torch::equal(loaded["logits"], logits));
  EXPECT_TRUE(torch::equal(loaded.at("resid_post", 1), cache.at("resid_post", 1)));
  auto message = test::error_of([&] { cache["blocks.0.hook_resid_mid"]; });
  EXPECT_NE(message.find("holds no 'blocks.0.hook_resid_mid'"), std::string::npos) << message;
}

TEST(Cache, OptInPointsAgreeWithTheDefaultPath) {
  auto model = gpt2_fixture();
  auto tokens = fixture_tokens();
  auto [plain, plain_cache] = model.run_with_cache(tokens);
  model.set_use_attn_result(true);
  auto [with_result, cache] = model.run_with_cache(tokens, names_matching("hook_(result|attn_out)$"));
  for (int l = 0; l < 2; ++l) {
    const auto& result = cache.at("result", l);  // [batch, pos, head, d_model]
    EXPECT_EQ(result.size(2), 4);
    EXPECT_LT(test::max_abs_diff(result.sum(2) + model.weights().blocks[l].attn.b_O, cache.at("attn_out", l)), 1e-5);
  }
  EXPECT_LT(test::max_abs_diff(with_result, plain), 1e-4);
  model.set_use_attn_result(false);
  model.set_use_split_qkv_input(true);
  auto [split, split_cache] = model.run_with_cache(tokens, names_matching("hook_q_input"));
  EXPECT_EQ(split_cache.at("q_input", 0).sizes(), (std::vector<int64_t>{3, 12, 4, 64}));
  EXPECT_LT(test::max_abs_diff(split, plain), 1e-4);
}

TEST(Cache, ActNameFollowsTransformerLens) {
  EXPECT_EQ(act_name("resid_pre", 3), "blocks.3.hook_resid_pre");
  EXPECT_EQ(act_name("pattern", 0), "blocks.0.attn.hook_pattern");
  EXPECT_EQ(act_name("post", 1), "blocks.1.mlp.hook_post");
  EXPECT_EQ(act_name("scale", 2, "ln2"), "blocks.2.ln2.hook_scale");
  EXPECT_EQ(act_name("scale"), "ln_final.hook_scale");
  EXPECT_EQ(act_name("embed"), "hook_embed");
  EXPECT_EQ(act_name("blocks.0.hook_resid_pre"), "blocks.0.hook_resid_pre");
  EXPECT_THROW(act_name("resid_pree", 0), Error);
}

}  // namespace
}  // namespace arrakis
