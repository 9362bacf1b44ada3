// The embedded default model is what the docs say it is: a two-layer attention-only model with an induction circuit.
#include "arrakis/demo/demo_model.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;

// Mean over batch and queries q >= first of pattern[q, q - offset], per head.
torch::Tensor offset_attention(const torch::Tensor& pattern, int64_t offset, int64_t first) {
  return pattern.diagonal(-offset, 2, 3)
      .index({Slice(), Slice(), Slice(first - offset, torch::indexing::None)})
      .mean(at::IntArrayRef{0, 2});
}

TEST(DemoModel, HasPreviousTokenAndInductionHeadsAndCopiesRepeats) {
  torch::NoGradGuard no_grad;
  auto model = load_demo_model();
  EXPECT_EQ(model.config().n_layers, 2);
  EXPECT_TRUE(model.config().attn_only);
  auto generator = seeded_generator(123);
  const int64_t T = 16;
  auto tokens = repeated_random_tokens(32, T, model.config().d_vocab, generator);  // BOS, x, x
  auto [logits, cache] = model.run_with_cache(tokens, names_matching("hook_pattern"));

  // Definitions as in issue 5 (sequences repeating with period T after BOS):
  // previous-token = pattern[q, q-1] over q >= 1; induction = pattern[q, q-T+1] over q >= T+1.
  auto previous = offset_attention(cache.at("pattern", 0), 1, 1);
  auto induction = offset_attention(cache.at("pattern", 1), T - 1, T + 1);
  EXPECT_GT(previous.max().item<double>(), 0.4) << previous;
  EXPECT_GT(induction.max().item<double>(), 0.5) << induction;

  auto per_token = lm_loss(logits, tokens, {}, true);
  auto first = per_token.index({Slice(), Slice(1, T)}).mean().item<double>();
  auto second = per_token.index({Slice(), Slice(T + 1, torch::indexing::None)}).mean().item<double>();
  EXPECT_GT(first, 0.9 * std::log(static_cast<double>(model.config().d_vocab - 1)));  // random tokens: ~chance
  EXPECT_LT(second, 0.5);                                                             // repeats: copied
}

TEST(DemoModel, TrainingIsDeterministicForASeed) {
  DemoTrainingOptions options;
  options.steps = 10;
  std::vector<double> losses_a, losses_b;
  options.progress = [&](int64_t, double loss) { losses_a.push_back(loss); };
  auto a = train_demo_model(options);
  options.progress = [&](int64_t, double loss) { losses_b.push_back(loss); };
  auto b = train_demo_model(options);
  EXPECT_EQ(losses_a, losses_b);  // same seed, same run
  auto generator = seeded_generator(5);
  auto tokens = InductionTask{}.sample(4, generator);
  EXPECT_TRUE(torch::equal(a(tokens), b(tokens)));
}

}  // namespace
}  // namespace arrakis
