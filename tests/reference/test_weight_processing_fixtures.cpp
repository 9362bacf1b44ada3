// Weight processing (fold_ln, center_writing_weights, center_unembed, fold_value_biases,
// refactor_factored_attn_matrices) leaves log-probabilities unchanged, plain and left-padded, and does what each option
// says to the weights: on the trained models in ../shared and the fixtures of the options random models lack (Phi-3's
// su rotary scaling, Mistral's sliding window). Every family's plain form: unit/test_weight_processing.cpp.
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

constexpr double kTolerance = 1e-4;

bool skipped(const WeightProcessingReport& report, const std::string& option) {
  for (const auto& s : report.skipped)
    if (s.starts_with(option + ":")) return true;
  return false;
}

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

  const auto& c = processed.config();
  const auto& w = processed.weights();
  // What each applied option promises about the weights.
  if (!skipped(report, "fold_ln") && plain.config().normalization != NormType::None) {
    EXPECT_TRUE(c.normalization == NormType::LayerNormPre || c.normalization == NormType::RMSNormPre);
    EXPECT_FALSE(w.blocks[0].ln1.w.defined());
  }
  if (c.normalization == NormType::LayerNormPre) {
    EXPECT_LT(w.blocks[0].attn.W_Q.sum(1).abs().max().item<double>(), 1e-4) << "W_Q not centred over d_model";
    EXPECT_LT(w.W_E.mean(-1).abs().max().item<double>(), 1e-5) << "W_E not centred";
  }
  EXPECT_LT(w.W_U.mean(-1).abs().max().item<double>(), 1e-5) << "W_U not centred over the vocabulary";
  for (const auto& block : w.blocks) EXPECT_EQ(block.attn.b_V.abs().max().item<double>(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Families, ProcessedFixture,
                         ::testing::Values("phi3_su", "mistral_swa", "stories260K", "induction-2l", "grokking-mod113"));

}  // namespace
}  // namespace arrakis
