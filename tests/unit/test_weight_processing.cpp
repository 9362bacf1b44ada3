// Weight processing on seeded random models and the embedded demo model: log-probabilities are kept (every family,
// and models shaped like ../shared's checkpoints with the options the family models lack), what does not apply is
// reported, refactoring keeps the circuits' products, a changed unembedding is untied.
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

// Makes the norm weights and biases random too (a fresh model's are 1 and 0, which would make folding them vacuous).
void randomize_norms_and_biases(HookedTransformer& model) {
  auto generator = seeded_generator(17);
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : model.weights().named_parameters(model.config())) {
    const auto leaf = name.substr(name.rfind('.') + 1);  // "w" of a norm, "b_Q", "b_in", ... of a bias
    if (leaf == "w" || leaf.starts_with("b")) tensor.add_(torch::randn(tensor.sizes(), generator) * 0.1);
  }
}

// A random model of the family whose norm weights and biases are random too.
HookedAutoModel model_with_random_norms_and_biases(const std::string& family) {
  auto model = test::random_model(family);
  randomize_norms_and_biases(model);
  return model;
}

// Plain and left-padded batches keep their log-probabilities through every option, and each option keeps its promise.
void expect_every_option_keeps_log_probabilities(HookedTransformer& plain, HookedTransformer& processed,
                                                 const std::string& name) {
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
        << name << (mask.defined() ? " left-padded" : "");
  }

  test::expect_processing_promises(plain, processed, report);
}

class ProcessedRandomModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ProcessedRandomModel, EveryOptionKeepsLogProbabilities) {
  auto plain = model_with_random_norms_and_biases(GetParam());
  auto processed = model_with_random_norms_and_biases(GetParam());
  expect_every_option_keeps_log_probabilities(plain, processed, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Families, ProcessedRandomModel, ::testing::ValuesIn(test::model_families_under_test()),
                         test::family_test_name);

// Random models shaped like ../shared's checkpoints that have what the family models above lack (the parameters are
// those checkpoints' names): Phi-3 with su rotary scaling (sequences longer than its original context, so its long
// factors apply), Mistral with a sliding window shorter than the sequence, stories260K's Llama (tied embeddings, 5
// layers of 8 heads of 8 sharing 4 key/value heads), and TransformerLens models without norms: induction-2l
// (attention only) and grokking-mod113 (a ReLU MLP; its context made long enough for the 12 tokens here). Norm weights
// and biases random as above.
HookedTransformer fixture_shaped_model(const std::string& name) {
  if (name == "induction-2l" || name == "grokking-mod113") {
    const bool induction = name == "induction-2l";
    ModelConfig c;
    c.n_layers = induction ? 2 : 1;
    c.d_model = induction ? 48 : 128;
    c.n_heads = 4;
    c.d_head = c.d_model / 4;
    c.d_mlp = induction ? 0 : 512;
    c.attn_only = induction;
    c.act_fn = Activation::Relu;
    c.d_vocab = induction ? 128 : 114;
    c.n_ctx = 85;
    c.normalization = NormType::None;
    auto weights = ModelWeights::random(c, /*seed=*/0, /*init_range=*/0.1);
    HookedTransformer model(std::move(c), std::move(weights));
    randomize_norms_and_biases(model);
    return model;
  }
  auto config = test::random_model_config(name == "phi3_su" ? "phi3" : name == "mistral_swa" ? "mistral" : "llama");
  if (name == "phi3_su") {
    config.extra["original_max_position_embeddings"] = 8;
    config.extra["rope_scaling"] = {{"type", "su"},
                                    {"short_factor", {1.0, 1.2, 1.4, 1.7, 2.1, 2.6, 3.2, 4.0}},
                                    {"long_factor", {1.0, 1.6, 2.4, 3.5, 5.0, 7.0, 9.5, 12.0}}};
  } else if (name == "mistral_swa") {
    config.extra["sliding_window"] = 4;
  } else if (name == "stories260K") {
    config.intermediate_size = 172;
    config.num_hidden_layers = 5;
    config.num_attention_heads = 8;
    config.num_key_value_heads = 4;
    config.tie_word_embeddings = true;
  } else {
    ADD_FAILURE() << "no model shaped like " << name;
  }
  HookedAutoModel model(config);
  randomize_norms_and_biases(model);
  return HookedTransformer(std::move(model));
}

class ProcessedFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ProcessedFixture, EveryOptionKeepsLogProbabilities) {
  auto plain = fixture_shaped_model(GetParam());
  auto processed = fixture_shaped_model(GetParam());
  expect_every_option_keeps_log_probabilities(plain, processed, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Families, ProcessedFixture,
                         ::testing::Values("phi3_su", "mistral_swa", "stories260K", "induction-2l", "grokking-mod113"));

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
