// Generation on a real trained model (../shared's TinyStories Llama): the reference continuation, text prompts in a
// left-padded batch, the returned cache, stop tokens.
#include "arrakis/model/generation.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

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
