// A sparse autoencoder on a real trained model: ../shared's TinyStories Llama (stories260K), on text it samples
// itself (it ships without a corpus). Trained in seconds, judged on held-out samples.
#include <gtest/gtest.h>

#include <chrono>

#include "arrakis/analysis/activation_dataset.hpp"
#include "arrakis/analysis/sparse_autoencoder.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

TEST(SparseAutoencoderTrained, StoriesResidualStreamSaeReconstructsAndKeepsTheLoss) {
  ARRAKIS_REQUIRE_SHARED();
  auto model = load_pretrained(test::shared_dir() / "models/stories260K");
  const std::string hook = "blocks.0.hook_resid_post";
  const auto start = std::chrono::steady_clock::now();
  const auto train = collect_activations(
      model, {.hook = hook, .tokens = TokenSource::parse("generate:0"), .n_tokens = 16384, .context_length = 64});
  const auto result = train_sparse_autoencoder(train, {.architecture = SaeArchitecture::TopK,
                                                       .d_sae = 256,
                                                       .k = 16,
                                                       .steps = 1500,
                                                       .batch_size = 1024,
                                                       .model_name = "stories260K"});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto held_out = collect_activations(
      model, {.hook = hook, .tokens = TokenSource::parse("generate:1"), .n_tokens = 4096, .context_length = 64});
  const auto e = evaluate_sparse_autoencoder(result.sae, held_out, &model);
  std::cerr << "stories260K SAE: " << e.to_json().dump() << ", collected and trained in " << seconds << " s\n";
  EXPECT_GE(e.explained_variance, 0.8);
  EXPECT_LE(e.mean_l0, 32);
  EXPECT_GE(e.loss_recovered, 0.8);
  EXPECT_LT(e.loss_clean, e.loss_spliced);          // the SAE loses something...
  EXPECT_LT(e.loss_spliced, e.loss_zero_ablation);  // ...but far less than ablating the point
}

}  // namespace
}  // namespace arrakis
