// The TransformerLens format's round trip: a seeded random model of every family, saved and read back, gives the same
// logits; a config that does not match the weights is a clear error (trained models against TransformerLens' own
// logits: reference/test_transformer_lens_trained.cpp).
#include <fstream>

#include "arrakis/io/checkpoint.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;

class TransformerLensFormatFamily : public ::testing::TestWithParam<std::string> {};

// A model of each family, saved in TransformerLens' format and read back, gives the same logits.
TEST_P(TransformerLensFormatFamily, SaveAndReloadGivesIdenticalLogits) {
  auto model = test::random_model(GetParam());
  auto dir = test::temp_dir("tl-roundtrip-" + GetParam());
  if (GetParam() == "gemma" || GetParam() == "stable-lm") {  // (1 + w) norms and an embedding multiplier; qk norms
    auto message = test::error_of([&] { save_transformer_lens(model, dir); });
    EXPECT_NE(message.find("the TransformerLens format cannot express"), std::string::npos) << message;
    EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors")) << "nothing half-written";
    return;
  }
  save_transformer_lens(model, dir);
  auto reloaded = load_pretrained(dir);
  auto tokens = torch::randint(0, 512, {2, 10});
  EXPECT_TRUE(torch::allclose(model(tokens), reloaded(tokens), 0, 1e-5));
  EXPECT_EQ(reloaded.config().family, "transformer_lens");
}

INSTANTIATE_TEST_SUITE_P(Families, TransformerLensFormatFamily, ::testing::ValuesIn(test::model_families_under_test()),
                         test::family_test_name);

TEST(TransformerLensFormat, ConfigThatDoesNotMatchTheWeightsIsAClearError) {
  // A seeded random model shaped like ../shared's grokking-mod113: one layer, d_model 128, 4 heads of 32, a ReLU MLP
  // of 512, no norms.
  ModelConfig c;
  c.n_layers = 1;
  c.d_model = 128;
  c.n_heads = 4;
  c.d_head = 32;
  c.d_mlp = 512;
  c.d_vocab = 114;
  c.n_ctx = 3;
  c.act_fn = Activation::Relu;
  c.normalization = NormType::None;
  auto weights = ModelWeights::random(c, /*seed=*/0, /*init_range=*/0.1);
  auto src = test::temp_dir("tl-no-norms");
  save_transformer_lens(HookedTransformer(std::move(c), std::move(weights)), src);
  auto dir = test::temp_dir("tl-mismatch");
  fs::copy_file(src / "model.safetensors", dir / "model.safetensors");
  auto config = ConfigJson::load(src / "config.json").json();

  config["normalization_type"] = "LN";  // the weights have no LayerNorm
  std::ofstream(dir / "config.json") << config.dump();
  auto message = test::error_of([&] { load_pretrained(dir); });
  EXPECT_NE(message.find("'blocks.0.ln1.w'"), std::string::npos) << message;

  config["normalization_type"] = nullptr;
  config["attn_only"] = true;  // the weights do have an MLP
  std::ofstream(dir / "config.json") << config.dump();
  message = test::error_of([&] { load_pretrained(dir); });
  EXPECT_NE(message.find("blocks.0.mlp.W_in"), std::string::npos) << message;
  EXPECT_NE(message.find("no place for"), std::string::npos) << message;

  config["attn_only"] = false;
  config["d_mlp"] = 256;  // wrong size
  std::ofstream(dir / "config.json") << config.dump();
  message = test::error_of([&] { load_pretrained(dir); });
  EXPECT_NE(message.find("'blocks.0.mlp.W_in' has shape [128, 512]"), std::string::npos) << message;
}

}  // namespace
}  // namespace arrakis
