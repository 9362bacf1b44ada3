// Weight processing on seeded random models and the embedded demo model: what does not apply is reported,
// refactoring keeps the circuits' products, a changed unembedding is untied (log-probabilities on every fixture:
// reference/test_weight_processing_fixtures.cpp).
#include <algorithm>

#include "arrakis/demo/demo_model.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"
#include "weight_processing_checks.hpp"

namespace arrakis {
namespace {

using test::skipped;

// A random model of the family whose norm weights and biases are random too (a fresh model's are 1 and 0, which
// would make folding them vacuous).
HookedAutoModel model_with_random_norms_and_biases(const std::string& family) {
  auto model = test::random_model(family);
  auto generator = seeded_generator(17);
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : model.weights().named_parameters(model.config())) {
    const auto leaf = name.substr(name.rfind('.') + 1);  // "w" of a norm, "b_Q", "b_in", ... of a bias
    if (leaf == "w" || leaf.starts_with("b")) tensor.add_(torch::randn(tensor.sizes(), generator) * 0.1);
  }
  return model;
}

class ProcessedRandomModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ProcessedRandomModel, EveryOptionKeepsLogProbabilities) {
  auto plain = model_with_random_norms_and_biases(GetParam());
  auto processed = model_with_random_norms_and_biases(GetParam());
  const auto report = processed.process_weights(WeightProcessing::all());
  EXPECT_FALSE(report.applied.empty());

  auto tokens = torch::randint(0, plain.config().d_vocab, {2, 12}, seeded_generator(4));
  auto left_padded = torch::ones({2, 12}, torch::kInt64);
  left_padded.index_put_({1, torch::indexing::Slice(0, 3)}, 0);
  for (const auto& mask : {torch::Tensor(), left_padded}) {
    ForwardOptions options;
    options.attention_mask = mask;
    auto real = mask.defined() ? mask.to(torch::kBool) : torch::ones({2, 12}, torch::kBool);
    auto log_probs = [&](HookedTransformer& m) {
      return torch::log_softmax(m.forward(tokens, options).to(torch::kFloat64), -1).index({real});
    };
    EXPECT_LT(test::max_abs_diff(log_probs(processed), log_probs(plain)), 1e-4)
        << GetParam() << (mask.defined() ? " left-padded" : "");
  }

  test::expect_processing_promises(plain, processed, report);
}

INSTANTIATE_TEST_SUITE_P(Families, ProcessedRandomModel, ::testing::ValuesIn(test::model_families_under_test()),
                         test::family_test_name);

TEST(WeightProcessing, ReportsWhatDoesNotApply) {
  auto llama = test::random_model("llama");
  auto report = llama.process_weights(WeightProcessing::all());
  EXPECT_TRUE(skipped(report, "center_writing_weights"));           // RMSNorm does not centre
  EXPECT_TRUE(skipped(report, "refactor_factored_attn_matrices"));  // rotary
  EXPECT_FALSE(skipped(report, "fold_ln"));

  auto gpt2 = test::random_model("gpt2");
  report = gpt2.process_weights(WeightProcessing::all());
  EXPECT_TRUE(report.skipped.empty()) << report.skipped.front();
  EXPECT_EQ(report.applied.size(), 5u);
}

TEST(WeightProcessing, RefactoredCircuitsAreTheSameProductsInABalancedBasis) {
  auto plain = load_demo_model();  // the embedded induction model (learned positions: refactoring applies)
  auto refactored = load_demo_model();
  refactored.process_weights({.refactor_factored_attn_matrices = true});
  for (int64_t l = 0; l < plain.config().n_layers; ++l) {
    const auto& a = plain.weights().blocks[l].attn;
    const auto& b = refactored.weights().blocks[l].attn;
    EXPECT_LT(test::max_abs_diff(b.W_Q.matmul(b.W_K.transpose(1, 2)), a.W_Q.matmul(a.W_K.transpose(1, 2))), 1e-4);
    EXPECT_LT(test::max_abs_diff(b.W_V.matmul(b.W_O), a.W_V.matmul(a.W_O)), 1e-4);
    // Balanced: [W_Q; b_Q] and [W_K; b_K] (the matrices acting on [x, 1]) have equal column norms, each being U or V
    // times sqrt(S).
    auto with_bias = [](const torch::Tensor& W, const torch::Tensor& bias) {
      return torch::cat({W, bias.unsqueeze(1)}, 1);
    };
    EXPECT_LT(test::max_abs_diff(with_bias(b.W_Q, b.b_Q).norm(2, {1}), with_bias(b.W_K, b.b_K).norm(2, {1})), 1e-3);
  }
}

TEST(WeightProcessing, TiedEmbeddingsAreUntiedWhenTheUnembeddingChanges) {
  auto model = test::random_model("gpt2");
  ASSERT_TRUE(model.config().tie_word_embeddings);
  const auto W_E_before = model.weights().W_E.clone();
  model.process_weights({.center_unembed = true});
  EXPECT_FALSE(model.config().tie_word_embeddings);
  EXPECT_EQ(test::max_abs_diff(model.weights().W_E, W_E_before), 0.0);  // the embedding itself is untouched
  const auto params = model.weights().named_parameters(model.config());
  EXPECT_TRUE(std::any_of(params.begin(), params.end(), [](const auto& p) { return p.first == "unembed.W_U"; }))
      << "an untied unembedding must be saved as a parameter of its own";
}

}  // namespace
}  // namespace arrakis
