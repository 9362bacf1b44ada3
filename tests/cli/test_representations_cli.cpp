// The representation commands end to end: `activations collect`, `sae train|eval|features`, and the representation
// tools through `arrakis tools` / `arrakis tool`.
#include <gtest/gtest.h>

#include "arrakis/analysis/sparse_autoencoder.hpp"
#include "arrakis/io/safetensors.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using test::run_cli;

TEST(RepresentationCli, CollectTrainEvaluateAndListFeatures) {
  const auto model = test::saved_random_model("gpt2").string();
  auto dir = test::temp_dir("representation-cli");
  std::filesystem::remove_all(dir / "acts");
  save_safetensors(dir / "ids.safetensors", {{"tokens", torch::randint(0, 512, {2000}, torch::kInt64)}});
  const auto acts = (dir / "acts").string();
  auto collect =
      run_cli("activations collect --model " + model + " --hook blocks.1.hook_resid_post --tokens " +
                  (dir / "ids.safetensors").string() + " --n-tokens 512 --context-length 32 --out " + acts + " --json",
              /*merge_stderr=*/false);
  ASSERT_EQ(collect.status, 0) << collect.output;
  auto described = nlohmann::json::parse(collect.output);
  EXPECT_EQ(described["rows"], 512);
  EXPECT_EQ(described["d"], 64);
  auto again = run_cli("activations collect --model " + model + " --hook blocks.1.hook_resid_post --tokens " +
                       (dir / "ids.safetensors").string() + " --n-tokens 512 --out " + acts);
  EXPECT_NE(again.status, 0);
  EXPECT_NE(again.output.find("not empty"), std::string::npos) << again.output;

  const auto sae = (dir / "sae").string();
  auto trained =
      run_cli("sae train --model " + model + " --dataset " + acts +
                  " --architecture topk --d-sae 128 --k 8 --steps 40 --batch-size 128 --out " + sae + " --json",
              false);
  ASSERT_EQ(trained.status, 0) << trained.output;
  auto report = nlohmann::json::parse(trained.output);
  EXPECT_EQ(report["training"]["config"]["d_sae"], 128);
  EXPECT_TRUE(report["evaluation"].contains("loss_recovered"));
  auto loaded = SparseAutoencoder::load(sae);
  EXPECT_EQ(loaded.config().hook_name, "blocks.1.hook_resid_post");

  auto evaluated = run_cli("sae eval --model " + model + " --sae " + sae + " --dataset " + acts + " --json", false);
  ASSERT_EQ(evaluated.status, 0) << evaluated.output;
  auto evaluation = nlohmann::json::parse(evaluated.output);
  EXPECT_DOUBLE_EQ(evaluation["explained_variance"].get<double>(),
                   report["evaluation"]["explained_variance"].get<double>());
  EXPECT_DOUBLE_EQ(evaluation["mean_l0"].get<double>(), 8.0);

  auto features = run_cli(
      "sae features --model " + model + " --sae " + sae + " --dataset " + acts + " --top-k 5 --n-listed 3 --json",
      false);
  ASSERT_EQ(features.status, 0) << features.output;
  auto listed = nlohmann::json::parse(features.output);
  EXPECT_EQ(listed["features"]["most_polysemantic"].size(), 3u);
  EXPECT_EQ(listed["sparsity"]["n_units"], 128);

  // The SAE's hook point must be what the dataset holds.
  auto wrong = run_cli("sae eval --model " + model + " --sae " + sae + " --hook blocks.0.hook_resid_post");
  EXPECT_NE(wrong.status, 0);
  EXPECT_NE(wrong.output.find("not the SAE's hook point"), std::string::npos) << wrong.output;
}

TEST(RepresentationCli, ToolsListTheRepresentationToolsAndCallThemFromTheShell) {
  auto listing = run_cli("tools --json", false);
  ASSERT_EQ(listing.status, 0) << listing.output;
  std::map<std::string, std::vector<std::string>> methods;
  const auto parsed = nlohmann::json::parse(listing.output);
  for (const auto& tool : parsed["tools"])
    for (const auto& m : tool["methods"])
      methods[tool["key"].get<std::string>()].push_back(m["name"].get<std::string>());
  EXPECT_EQ(methods["sparsity"],
            (std::vector<std::string>{"compute_activation_sparsity", "find_polysemantic_neurons", "prune_network"}));
  EXPECT_EQ(methods["superposition"],
            (std::vector<std::string>{"compute_activation_covariance", "disentangle_superposition",
                                      "project_activations", "reconstruct_activations", "interpolate_concepts",
                                      "train_sae", "evaluate_sae", "sae_features"}));
  EXPECT_EQ(methods["knowledge"],
            (std::vector<std::string>{"knowledge_probe", "train_probe", "probe_layers", "polysemantic_score"}));
  EXPECT_EQ(methods["k_prober"], methods["knowledge"]);
  EXPECT_EQ(methods["kg_extractor"].size(), 4u);

  const auto model = test::saved_random_model("gpt2").string();
  auto result = run_cli("tool sparsity compute_activation_sparsity --model " + model +
                            " --input-ids 1,2,3,4,5,6,7,8,9,10,11,12 --hook blocks.0.mlp.hook_post --json",
                        false);
  ASSERT_EQ(result.status, 0) << result.output;
  auto json = nlohmann::json::parse(result.output);
  EXPECT_EQ(json["n_tokens"], 12);
  EXPECT_EQ(json["n_units"], 256);
  auto pruned = run_cli(
      "tool sparsity prune_network --model " + model + " --input-ids 1,2,3,4,5,6,7,8,9,10,11,12 --threshold 0 --json",
      false);
  ASSERT_EQ(pruned.status, 0) << pruned.output;
  json = nlohmann::json::parse(pruned.output);
  EXPECT_EQ(json["pruned"], 0);
  EXPECT_EQ(json["loss_before"], json["loss_after"]);
}

}  // namespace
}  // namespace arrakis
