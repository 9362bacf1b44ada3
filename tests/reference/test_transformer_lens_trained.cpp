// Real trained models in TransformerLens format (../shared/models/tl): logits equal TransformerLens' own, and the
// grokking model computes modular addition. A config that does not match its weights:
// unit/test_transformer_lens_models.cpp.
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

}  // namespace
}  // namespace arrakis
