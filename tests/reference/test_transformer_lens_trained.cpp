// Real trained models in TransformerLens format (../shared/models/tl): logits equal TransformerLens' own, the
// grokking model computes modular addition, and a config that does not match its weights is a clear error.
#include <fstream>

#include "arrakis/io/checkpoint.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/model/transformer_lens_format.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;

class TransformerLensModel : public ::testing::TestWithParam<std::string> {};

TEST_P(TransformerLensModel, LogitsEqualTransformerLens) {
  ARRAKIS_REQUIRE_SHARED();
  auto dir = test::shared_dir() / "models/tl" / GetParam();
  auto model = load_pretrained(dir);
  auto expected = SafetensorsFile::open(dir / "expected.safetensors");
  auto logits = model(expected->tensor("tokens"));
  EXPECT_LT(test::max_abs_diff(logits, expected->tensor("logits")), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Shared, TransformerLensModel, ::testing::Values("induction-2l", "grokking-mod113"));

TEST(TransformerLensFormat, GrokkingModelAddsModulo113) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = load_pretrained(test::shared_dir() / "models/tl/grokking-mod113");
  // Every pair (a, b): tokens [a, b, 113]; the answer is the argmax over 0..112 at the last position.
  auto a = torch::arange(113).repeat_interleave(113);
  auto b = torch::arange(113).repeat(113);
  auto tokens = torch::stack({a, b, torch::full_like(a, 113)}, 1);
  auto logits = model(tokens).index({torch::indexing::Slice(), -1, torch::indexing::Slice(0, 113)});
  auto correct = (logits.argmax(-1) == (a + b) % 113).to(torch::kFloat32).mean().item<double>();
  EXPECT_EQ(correct, 1.0);
}

TEST(TransformerLensFormat, ConfigThatDoesNotMatchTheWeightsIsAClearError) {
  ARRAKIS_REQUIRE_SHARED();
  auto src = test::shared_dir() / "models/tl/grokking-mod113";
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
