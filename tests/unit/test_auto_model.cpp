// HookedAutoConfig / HookedAutoModel: every family from a few sizes with Hugging Face's defaults for the rest,
// seeded random weights, from_pretrained choosing the family (from a random checkpoint in Hugging Face's layout), and
// clear errors.
#include <fstream>

#include "arrakis/model/auto_model.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

HookedAutoConfig small(const std::string& family) {
  HookedAutoConfig c{.name = family,
                     .vocab_size = 96,
                     .hidden_size = 32,
                     .intermediate_size = 48,
                     .num_hidden_layers = 2,
                     .num_attention_heads = 4};
  if (family == "gemma") c.head_dim = 8;  // Gemma's default head_dim is 256 whatever the hidden size
  // Families whose Hugging Face default is a fixed number of key/value heads (Gemma 16, Qwen2 32, Mistral 8,
  // StableLM 32) need one that divides 4 heads, as they would in Hugging Face.
  if (family != "gpt2" && family != "gpt-neo" && family != "gpt-neox") c.num_key_value_heads = 2;
  return c;
}

class AutoModelFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(AutoModelFamily, BuildsASeededRandomModelThatRuns) {
  HookedAutoModel a(small(GetParam())), b(small(GetParam()));
  auto other_seed = small(GetParam());
  other_seed.seed = 1;
  HookedAutoModel c(other_seed);
  EXPECT_EQ(a.config().d_model, 32);
  EXPECT_EQ(a.config().n_layers, 2);
  EXPECT_EQ(a.config().d_vocab, 96);
  auto tokens = torch::randint(96, {2, 7}, torch::kInt64);
  auto logits = a.forward(tokens);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 7, 96}));
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
  EXPECT_EQ(test::max_abs_diff(logits, b.forward(tokens)), 0.0) << "the same seed must give the same model";
  EXPECT_GT(test::max_abs_diff(logits, c.forward(tokens)), 1e-3) << "another seed must give another model";
}

// Observing is free of side effects: caching every hook point (the forward then takes the hooked paths: norms, the
// attention, the MLP activation) gives logits bit for bit those of a plain forward, in every family and with the
// opt-in points on.
TEST_P(AutoModelFamily, CachingEveryHookPointLeavesTheLogitsBitIdentical) {
  HookedAutoModel model(small(GetParam()));
  auto tokens = torch::randint(96, {2, 9}, seeded_generator(3), torch::kInt64);
  auto plain = model.forward(tokens);
  auto [logits, cache] = model.run_with_cache(tokens);
  EXPECT_TRUE(torch::equal(plain, logits));
  EXPECT_GT(cache.size(), 10u);
  model.set_use_attn_result(true);
  model.set_use_split_qkv_input(true);
  auto [with_opt_in, more] = model.run_with_cache(tokens);
  EXPECT_GT(more.size(), cache.size());
  EXPECT_LT(test::max_abs_diff(plain, with_opt_in), 1e-5);  // per-head paths sum in another order: rounding only
  // A pass-through hook that edits a norm's scale in place to the same value recomputes the division, exactly.
  model.set_use_attn_result(false);
  model.set_use_split_qkv_input(false);
  auto guard = model.add_hook("blocks.0.ln1.hook_scale", [](const torch::Tensor& scale) { scale.mul_(1.0); });
  EXPECT_LT(test::max_abs_diff(plain, model.forward(tokens)), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Families, AutoModelFamily,
                         ::testing::Values("gpt2", "gpt-neo", "gpt-neox", "llama", "gemma", "phi3", "qwen2", "mistral",
                                           "stable-lm"));

TEST(AutoModel, UnsetFieldsTakeTheFamilysHuggingFaceDefaults) {
  HookedAutoModel llama(HookedAutoConfig{.name = "llama",
                                         .vocab_size = 64,
                                         .hidden_size = 32,
                                         .intermediate_size = 64,
                                         .num_hidden_layers = 1,
                                         .num_attention_heads = 4,
                                         .num_key_value_heads = 2});
  EXPECT_EQ(llama.config().kv_heads(), 2);
  EXPECT_EQ(llama.config().n_ctx, 2048);  // LlamaConfig.max_position_embeddings
  EXPECT_DOUBLE_EQ(llama.config().rotary_base, 10000.0);
  EXPECT_DOUBLE_EQ(llama.config().eps, 1e-6);
  EXPECT_TRUE(llama.config().gated_mlp);
  EXPECT_EQ(llama.config().act_fn, Activation::Silu);

  HookedAutoModel neox(HookedAutoConfig{.name = "GPT_NeoX",
                                        .vocab_size = 64,
                                        .hidden_size = 32,
                                        .intermediate_size = 64,
                                        .num_hidden_layers = 1,
                                        .num_attention_heads = 2});
  EXPECT_EQ(neox.config().rotary_dims(), 4);     // rotary_pct 0.25 of d_head 16
  EXPECT_TRUE(neox.config().parallel_attn_mlp);  // use_parallel_residual
  EXPECT_FALSE(neox.config().tie_word_embeddings);

  HookedAutoModel gpt2(HookedAutoConfig{
      .name = "gpt2", .vocab_size = 64, .hidden_size = 32, .num_hidden_layers = 1, .num_attention_heads = 2});
  EXPECT_EQ(gpt2.config().n_ctx, 1024);
  EXPECT_EQ(gpt2.config().d_mlp, 4 * 32);  // n_inner None -> 4 * n_embd
  EXPECT_TRUE(gpt2.config().tie_word_embeddings);

  auto mistral = HookedAutoConfig{.name = "mistral",
                                  .vocab_size = 64,
                                  .hidden_size = 32,
                                  .intermediate_size = 64,
                                  .num_hidden_layers = 2,
                                  .num_attention_heads = 4,
                                  .num_key_value_heads = 2};
  mistral.extra = {{"sliding_window", 5}};
  HookedAutoModel swa(mistral);
  EXPECT_EQ(swa.config().attn_window(1), 6);  // sliding_window 5: the query and 5 keys before it
}

TEST(AutoModel, GemmaNormsStartAtAUnitScale) {
  HookedAutoModel gemma(small("gemma"));
  EXPECT_EQ(gemma.config().normalization, NormType::RMSNormOnePlus);
  EXPECT_EQ(gemma.weights().blocks[0].ln1.w.abs().max().item<double>(), 0.0);  // (1 + 0) = 1, as HF initialises
}

TEST(AutoModel, ErrorsNameTheFamilyAndTheField) {
  // As in Hugging Face, Mistral's default of 8 key/value heads does not fit 4 query heads: said, not guessed.
  auto mistral_default_kv = test::error_of(
      [] { HookedAutoModel m(HookedAutoConfig{.name = "mistral", .hidden_size = 32, .num_attention_heads = 4}); });
  EXPECT_NE(mistral_default_kv.find("n_key_value_heads (8)"), std::string::npos) << mistral_default_kv;

  auto unknown = test::error_of([] { HookedAutoModel m(HookedAutoConfig{.name = "bert"}); });
  EXPECT_NE(unknown.find("'bert' is not a supported family"), std::string::npos) << unknown;
  for (const char* family : {"gpt2", "gpt-neo", "gpt-neox", "llama", "gemma", "phi3", "qwen2", "mistral", "stable-lm"})
    EXPECT_NE(unknown.find(family), std::string::npos) << unknown;

  auto gqa_gpt2 = small("gpt2");
  gqa_gpt2.num_key_value_heads = 2;
  auto message = test::error_of([&] { HookedAutoModel m(gqa_gpt2); });
  EXPECT_NE(message.find("num_key_value_heads"), std::string::npos) << message;
  EXPECT_NE(message.find("gpt2"), std::string::npos) << message;

  auto bad_heads = small("llama");
  bad_heads.num_attention_heads = 5;  // 32 is not a multiple of 5
  message = test::error_of([&] { HookedAutoModel m(bad_heads); });
  EXPECT_NE(message.find("HookedAutoConfig"), std::string::npos) << message;
}

TEST(AutoModel, FromPretrainedChoosesTheFamilyFromModelType) {
  for (const char* family : {"gpt-neox", "qwen2"}) {
    const auto dir = test::saved_random_hf_model(family);
    auto model = HookedAutoModel::from_pretrained(dir);
    auto reference = load_pretrained(dir);
    EXPECT_EQ(model.config().family, reference.config().family);
    auto tokens = torch::arange(1, 9, torch::kInt64).unsqueeze(0);
    EXPECT_EQ(test::max_abs_diff(model.forward(tokens), reference.forward(tokens)), 0.0);
  }
  auto dir = test::temp_dir("auto-unsupported");
  std::ofstream(dir / "config.json") << R"({"model_type": "t5", "d_model": 8})";
  auto message = test::error_of([&] { HookedAutoModel::from_pretrained(dir); });
  EXPECT_NE(message.find("'t5' is not a supported family"), std::string::npos) << message;
  EXPECT_NE(message.find("stable-lm"), std::string::npos) << message;
}

}  // namespace
}  // namespace arrakis
