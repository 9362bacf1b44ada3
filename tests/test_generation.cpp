// Generation: the reference continuation of a real model, key/value caching against recomputation, hooks active
// during generation, batches, and the returned cache.
#include "arrakis/model/generation.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;

HookedTransformer stories() { return load_pretrained(test::shared_dir() / "models/stories260K"); }
torch::Tensor bos() { return torch::tensor({int64_t{1}}).unsqueeze(0); }

std::vector<int64_t> row(const torch::Tensor& tokens, int64_t b = 0) {
  auto r = tokens[b].contiguous();
  return {r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel()};
}

TEST(Generation, GreedyStoriesFromBosIsTheReferenceStory) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = stories();
  GenerateOptions options;
  options.temperature = 0;
  options.max_new_tokens = 11;
  auto result = generate(model, bos(), options);
  EXPECT_EQ(row(result.tokens),
            (std::vector<int64_t>{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315}));  // ../shared/README.md

  options.max_new_tokens = 40;
  auto story = generate(model, bos(), options);
  ASSERT_EQ(story.texts.size(), 1u);
  EXPECT_TRUE(story.texts[0].starts_with("Once upon a time, there was a little girl named Lily.")) << story.texts[0];
}

TEST(Generation, KeyValueCacheEqualsRecomputingEveryStep) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = stories();
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

TEST(Generation, HookChangesExactlyTheTokensItSaysItDoes) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = stories();
  GenerateOptions options;
  options.temperature = 0;
  options.max_new_tokens = 14;
  options.stop_at_eos = false;
  auto plain = row(generate(model, bos(), options).tokens);

  // From absolute position 6 on, push the final residual stream hard towards token 300's unembedding direction.
  const int64_t from = 6, target = 300;
  auto direction = model.weights().W_U.index({Slice(), target}).clone();
  auto guard = model.add_hook("blocks.4.hook_resid_post", [&](const torch::Tensor& x, const HookPoint& p) {
    auto out = x.clone();
    for (int64_t i = 0; i < x.size(1); ++i)
      if (p.position_offset + i >= from) out.index({Slice(), i}) += 100.0 * direction;
    return out;
  });
  auto steered = row(generate(model, bos(), options).tokens);
  guard.remove();
  ASSERT_EQ(plain.size(), steered.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    // Token i is predicted at position i - 1: unchanged up to the hook's first position, the target after it.
    if (static_cast<int64_t>(i) <= from) EXPECT_EQ(steered[i], plain[i]) << i;
    else EXPECT_EQ(steered[i], target) << i;
  }
  EXPECT_EQ(row(generate(model, bos(), options).tokens), plain);  // guard gone: generation as before
}

TEST(Generation, LeftPaddedBatchContinuesEachPromptAsAlone) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = stories();
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
  ARRAKIS_REQUIRE_SHARED();
  auto model = stories();
  GenerateOptions options;
  options.temperature = 0;
  options.max_new_tokens = 11;
  options.return_cache = true;
  options.cache_names = names_matching("hook_resid_post$");
  auto result = generate(model, bos(), options);
  EXPECT_EQ(result.cache.size(), 5u);
  EXPECT_EQ(result.cache.at("resid_post", 4).size(1), 12);
  auto full = model(result.tokens);
  EXPECT_LT(test::max_abs_diff(model.unembed(model.ln_final(result.cache.at("resid_post", 4))), full), 1e-4);

  options.return_cache = false;
  options.stop_tokens = {261};  // the third generated token of the reference story
  auto stopped = generate(model, bos(), options);
  EXPECT_EQ(row(stopped.tokens), (std::vector<int64_t>{1, 403, 407, 261}));
  EXPECT_EQ(stopped.generated_lengths, (std::vector<int64_t>{3}));
}

}  // namespace
}  // namespace arrakis
