// The TransformerLens format's round trip: a seeded random model of every family, saved and read back, gives the same
// logits (trained models against TransformerLens' own logits: reference/test_transformer_lens_trained.cpp).
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

}  // namespace
}  // namespace arrakis
