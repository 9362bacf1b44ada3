// Every Hugging Face fixture family against the outputs of Hugging Face's own implementation (../shared/fixtures/hf):
// logits, hidden states and attention patterns within 1e-4, for a plain and a left-padded batch.
#include <set>

#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

using torch::indexing::Slice;
constexpr double kTolerance = 1e-4;

struct FixtureRun {
  torch::Tensor logits;
  ActivationCache cache;
};

// Compares one batch ("" or "pad.") of a fixture; padded query positions (mask 0) are ignored, as HF's are garbage.
void compare_batch(HookedTransformer& model, SafetensorsFile& expected, const std::string& prefix) {
  const auto& c = model.config();
  auto input_ids = expected.tensor(prefix + "input_ids");
  ForwardOptions options;
  torch::Tensor real = torch::ones_like(input_ids, torch::kBool);
  if (!prefix.empty()) {
    options.attention_mask = expected.tensor(prefix + "attention_mask");
    real = options.attention_mask.to(torch::kBool);
  }
  auto [logits, cache] = model.run_with_cache(input_ids, NameFilter(), options);
  auto rows = [&](const torch::Tensor& t) { return t.index({real}); };  // [batch, pos, ...] -> [real, ...]

  EXPECT_LT(test::max_abs_diff(rows(logits), rows(expected.tensor(prefix + "logits"))), kTolerance)
      << prefix + "logits";
  for (int64_t k = 0; k <= c.n_layers; ++k) {
    const auto name = prefix + "hidden_states." + std::to_string(k);
    torch::Tensor ours;
    if (k == 0)
      ours = cache.at("resid_pre", 0);
    else if (k < c.n_layers)
      ours = cache.at("resid_pre", static_cast<int>(k));
    else
      ours = model.ln_final(cache.at("resid_post", static_cast<int>(c.n_layers - 1)));
    EXPECT_LT(test::max_abs_diff(rows(ours), rows(expected.tensor(name))), kTolerance) << name;
  }
  EXPECT_LT(test::max_abs_diff(rows(cache.at("resid_post", static_cast<int>(c.n_layers - 1))),
                               rows(expected.tensor(prefix + "last_block_output"))),
            kTolerance)
      << prefix + "last_block_output";
  for (int64_t k = 0; k < c.n_layers; ++k) {
    const auto name = prefix + "attentions." + std::to_string(k);
    // [batch, head, query, key] -> [batch, query, head, key] so the real-query mask selects rows.
    auto ours = cache.at("pattern", static_cast<int>(k)).transpose(1, 2);
    auto theirs = expected.tensor(name).transpose(1, 2);
    EXPECT_LT(test::max_abs_diff(rows(ours), rows(theirs)), kTolerance) << name;
  }
}

class HuggingFaceFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(HuggingFaceFixture, MatchesHuggingFacePlainAndLeftPadded) {
  ARRAKIS_REQUIRE_SHARED();
  auto dir = test::shared_dir() / "fixtures/hf" / GetParam();
  auto model = load_pretrained(dir);
  auto expected = SafetensorsFile::open(dir / "expected.safetensors");
  compare_batch(model, *expected, "");
  if (expected->contains("pad.input_ids")) compare_batch(model, *expected, "pad.");  // stories260K has no padded case
}

INSTANTIATE_TEST_SUITE_P(Families, HuggingFaceFixture,
                         ::testing::Values("gpt2", "gpt_neo", "gpt_neox", "llama", "gemma", "phi3", "phi3_su", "qwen2",
                                           "mistral", "mistral_swa", "stablelm", "stablelm_qkln", "stories260K"));

TEST(HuggingFaceFixtures, EveryFixtureFolderIsTested) {
  ARRAKIS_REQUIRE_SHARED();
  std::set<std::string> tested = {"gpt2",     "gpt_neo",       "gpt_neox",   "llama",   "gemma",
                                  "phi3",     "phi3_su",       "qwen2",      "mistral", "mistral_swa",
                                  "stablelm", "stablelm_qkln", "stories260K"};
  for (const auto& entry : std::filesystem::directory_iterator(test::shared_dir() / "fixtures/hf"))
    EXPECT_TRUE(tested.count(entry.path().filename().string())) << entry.path() << " has no test";
}

}  // namespace
}  // namespace arrakis
