// Generation on a seeded random model of every family: key/value caching against recomputation, hooks active during
// generation, text prompts in a left-padded batch, the returned cache and stop tokens (the reference continuation of a
// trained model: reference/test_generation_stories.cpp).
#include "arrakis/hooks/hook_catalogue.hpp"
#include "arrakis/model/generation.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;

torch::Tensor bos() { return torch::tensor({int64_t{1}}).unsqueeze(0); }

std::vector<int64_t> row(const torch::Tensor& tokens, int64_t b = 0) {
  auto r = tokens[b].contiguous();
  return {r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel()};
}

class GenerationFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(GenerationFamily, KeyValueCacheEqualsRecomputingEveryStep) {
  auto model = test::random_model(GetParam());
  for (double temperature : {0.0, 0.8}) {
    GenerateOptions options;
    options.temperature = temperature;
    options.top_k = 40;
    options.top_p = 0.9;
    options.seed = 7;
    options.max_new_tokens = 30;
    options.stop_at_eos = false;
    auto cached = generate(model, bos(), options);
    options.use_kv_cache = false;
    auto recomputed = generate(model, bos(), options);
    EXPECT_EQ(row(cached.tokens), row(recomputed.tokens)) << "temperature " << temperature;
  }
}

TEST_P(GenerationFamily, HookChangesExactlyTheTokensItSaysItDoes) {
  auto model = test::random_model(GetParam());
  GenerateOptions options;
  options.temperature = 0;
  options.max_new_tokens = 14;
  options.stop_at_eos = false;
  auto plain = row(generate(model, bos(), options).tokens);

  // From absolute position 6 on, push the final residual stream hard towards token 300's unembedding direction.
  const int64_t from = 6, target = 300;
  auto direction = model.weights().W_U.index({Slice(), target}).clone();
  const int last = static_cast<int>(model.config().n_layers) - 1;
  auto guard = model.add_hook(hooks::resid_post(last), [&](const torch::Tensor& x, const HookPoint& p) {
    auto out = x.clone();
    for (int64_t i = 0; i < x.size(1); ++i)
      if (p.position_offset + i >= from) out.index({Slice(), i}) += 100.0 * direction / direction.norm();
    return out;
  });
  auto steered = row(generate(model, bos(), options).tokens);
  guard.remove();
  ASSERT_EQ(plain.size(), steered.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    // Token i is predicted at position i - 1: unchanged up to the hook's first position, the target after it.
    if (static_cast<int64_t>(i) <= from)
      EXPECT_EQ(steered[i], plain[i]) << i;
    else
      EXPECT_EQ(steered[i], target) << i;
  }
  EXPECT_EQ(row(generate(model, bos(), options).tokens), plain);  // guard gone: generation as before
}

// A random Llama with a tokenizer for text prompts: the unigram SentencePiece model trained for the tests
// (tests/data/tokenizers/sentencepiece), whose BOS is 1 and EOS 2 and which has no pad token, as stories260K's
// tokenizer; the model's vocabulary is the tokenizer's 500 pieces.
HookedAutoModel llama_with_tokenizer() {
  auto config = test::random_model_config("llama");
  config.vocab_size = 500;
  HookedAutoModel model(config);
  const auto dir = test::temp_dir("generation-tokenizer");
  std::filesystem::copy_file(test::source_dir() / "tests/data/tokenizers/sentencepiece/unigram.model",
                             dir / "tokenizer.model");
  model.set_tokenizer(load_tokenizer(dir));
  return model;
}

TEST(Generation, LeftPaddedBatchContinuesEachPromptAsAlone) {
  ARRAKIS_REQUIRE_SENTENCEPIECE();
  auto model = llama_with_tokenizer();
  GenerateOptions options;
  options.temperature = 0;
  options.max_new_tokens = 8;
  options.stop_at_eos = false;
  std::vector<std::string> prompts = {"Once upon a time", "The cat sat"};
  auto batch = generate(model, std::span<const std::string>(prompts), options);
  for (std::size_t b = 0; b < prompts.size(); ++b) {
    auto alone = generate(model, prompts[b], options);
    EXPECT_EQ(batch.texts[b], alone.texts[0]) << prompts[b];
  }
}

TEST(Generation, ReturnsTheCacheOfTheWholeSequenceAndStopsAtStopTokens) {
  auto model = test::random_model("llama");
  GenerateOptions options;
  options.temperature = 0;
  options.max_new_tokens = 11;
  options.return_cache = true;
  options.cache_names = names_matching("hook_resid_post$");
  auto result = generate(model, bos(), options);
  EXPECT_EQ(result.cache.size(), 2u);  // one per layer
  EXPECT_EQ(result.cache.at("resid_post", 1).size(1), 12);
  auto full = model(result.tokens);
  EXPECT_LT(test::max_abs_diff(model.unembed(model.ln_final(result.cache.at("resid_post", 1))), full), 1e-4);

  // Stopping at the third generated token (one the first two are not) ends the sequence there.
  const auto greedy = row(result.tokens);
  ASSERT_NE(greedy[3], greedy[1]);
  ASSERT_NE(greedy[3], greedy[2]);
  options.return_cache = false;
  options.stop_tokens = {greedy[3]};
  auto stopped = generate(model, bos(), options);
  EXPECT_EQ(row(stopped.tokens), (std::vector<int64_t>{1, greedy[1], greedy[2], greedy[3]}));
  EXPECT_EQ(stopped.generated_lengths, (std::vector<int64_t>{3}));
}

INSTANTIATE_TEST_SUITE_P(Families, GenerationFamily, ::testing::ValuesIn(test::model_families_under_test()),
                         test::family_test_name);

}  // namespace
}  // namespace arrakis
