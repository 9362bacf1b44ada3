// profile_model: the components partition the forward, their times add up to the profiled forward's wall time, and
// the memory counts are what the forward allocates. (Its overhead over a plain forward: `arrakis bench forward`.)
#include "arrakis/experiments/model_profiler.hpp"
#include "arrakis/model/config.hpp"
#include "arrakis/model/weights.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

// A GPT-2-shaped model with random weights, big enough that a forward takes milliseconds (so timer resolution and
// hook calls are negligible) and small enough to keep the test quick.
HookedTransformer random_model() {
  ModelConfig config;
  config.model_name = "profiled";
  config.n_layers = 3;
  config.d_model = 256;
  config.n_heads = 4;
  config.d_head = 64;
  config.d_mlp = 1024;
  config.d_vocab = 1000;
  config.n_ctx = 256;
  auto weights = ModelWeights::random(config, 0);
  return HookedTransformer(config, std::move(weights));
}

TEST(BenchProfiler, ComponentTimesAddUpToTheForwardsWallTime) {
  // What the profiler costs over a plain forward is a speed figure: `arrakis bench forward` reports it
  // (profile_overhead). Here: its components, in order, and that they add up to its forward exactly.
  auto model = random_model();
  auto tokens = torch::randint(0, 1000, {2, 64}, torch::kInt64);
  const auto profile = profile_model(model, tokens, {.repeats = 3, .warmup = 1});
  std::vector<std::string> names;
  for (const auto& c : profile.components) names.push_back(c.name);
  std::vector<std::string> expected = {"embed"};
  for (int l = 0; l < 3; ++l)
    for (const char* part : {"ln1", "attn", "ln2", "mlp"}) expected.push_back(fmt::format("blocks.{}.{}", l, part));
  expected.push_back("ln_final");
  expected.push_back("unembed");
  EXPECT_EQ(names, expected);
  for (const auto& c : profile.components) EXPECT_GT(c.seconds, 0.0) << c.name;
  EXPECT_NEAR(profile.component_seconds(), profile.forward_seconds, 1e-9);
  ASSERT_EQ(profile.layers().size(), 3u);
}

TEST(BenchProfiler, MemoryCountsWhatEachComponentAllocates) {
  auto model = random_model();
  auto tokens = torch::randint(0, 1000, {2, 64}, torch::kInt64);
  auto profile = profile_model(model, tokens, {.repeats = 1, .warmup = 0});
  ASSERT_TRUE(profile.memory_measured);
  auto find = [&](const std::string& name) -> const ComponentProfile& {
    for (const auto& c : profile.components)
      if (c.name == name) return c;
    throw std::runtime_error("no component " + name);
  };
  const int64_t floats = 4;
  // The unembedding allocates at least its logits [2, 64, 1000]; an attention at least its pattern [2, 4, 64, 64];
  // an MLP at least its hidden activations [2, 64, 1024].
  EXPECT_GE(find("unembed").allocated_bytes, 2 * 64 * 1000 * floats);
  EXPECT_GE(find("blocks.0.attn").allocated_bytes, 2 * 4 * 64 * 64 * floats);
  EXPECT_GE(find("blocks.1.mlp").allocated_bytes, 2 * 64 * 1024 * floats);
  int64_t sum = 0;
  for (const auto& c : profile.components) {
    sum += c.allocated_bytes;
    EXPECT_LE(c.peak_bytes, profile.peak_bytes) << c.name;
  }
  EXPECT_EQ(sum, profile.allocated_bytes);
  EXPECT_GT(profile.peak_bytes, 0);
  auto json = profile.to_json();
  EXPECT_EQ(json["components"].size(), profile.components.size());
  EXPECT_NE(profile.table().find("blocks.2.mlp"), std::string::npos);
  // The profiler's hooks are gone afterwards.
  EXPECT_EQ(model.hooks().size(), 0u);
}

}  // namespace
}  // namespace arrakis
