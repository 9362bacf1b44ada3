// Generation on a real trained model (../shared's TinyStories Llama): the reference continuation. Text prompts in a
// left-padded batch, the returned cache and stop tokens: unit/test_generation.cpp.
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

}  // namespace
}  // namespace arrakis
