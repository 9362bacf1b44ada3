// Weight processing (fold_ln, center_writing_weights, center_unembed, fold_value_biases,
// refactor_factored_attn_matrices) leaves log-probabilities unchanged, plain and left-padded, and does what each option
// says to the weights: on the trained models in ../shared and the fixtures of the options random models lack (Phi-3's
// su rotary scaling, Mistral's sliding window). Every family's plain form: unit/test_weight_processing.cpp.
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"
#include "weight_processing_checks.hpp"

namespace arrakis {
namespace {

constexpr double kTolerance = 1e-4;

class ProcessedFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ProcessedFixture, EveryOptionKeepsLogProbabilities) {
  ARRAKIS_REQUIRE_SHARED();
  const auto dir = GetParam() == "induction-2l" || GetParam() == "grokking-mod113"
                       ? test::shared_dir() / "models/tl" / GetParam()
                       : test::shared_dir() / "fixtures/hf" / GetParam();
  auto plain = load_pretrained(dir, {.load_tokenizer = false});
  auto processed = load_pretrained(dir, {.load_tokenizer = false});
  const auto report = processed.process_weights(WeightProcessing::all());
  EXPECT_FALSE(report.applied.empty());

  auto expected = SafetensorsFile::open(dir / "expected.safetensors");
  for (const std::string prefix : {"", "pad."}) {
    const std::string ids = expected->contains("tokens") ? "tokens" : prefix + "input_ids";
    if (!expected->contains(ids)) continue;
    ForwardOptions options;
    torch::Tensor real = torch::ones_like(expected->tensor(ids), torch::kBool);
    if (expected->contains(prefix + "attention_mask")) {
      options.attention_mask = expected->tensor(prefix + "attention_mask");
      real = options.attention_mask.to(torch::kBool);
    }
    auto log_probs = [&](HookedTransformer& m) {
      return torch::log_softmax(m.forward(expected->tensor(ids), options).to(torch::kFloat64), -1).index({real});
    };
    EXPECT_LT(test::max_abs_diff(log_probs(processed), log_probs(plain)), kTolerance) << GetParam() << " " << prefix;
    if (ids == "tokens") break;
  }

  test::expect_processing_promises(plain, processed, report);
}

INSTANTIATE_TEST_SUITE_P(Families, ProcessedFixture,
                         ::testing::Values("phi3_su", "mistral_swa", "stories260K", "induction-2l", "grokking-mod113"));

}  // namespace
}  // namespace arrakis
