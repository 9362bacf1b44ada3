// `arrakis heads`, `arrakis lens` and `arrakis attribute` end to end (the built binary, as a user runs it), and the
// figures they draw.
#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "arrakis/analysis/direct_logit_attribution.hpp"
#include "arrakis/analysis/head_detectors.hpp"
#include "arrakis/analysis/metrics.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using test::run_cli;

TEST(AnalysisCli, HeadsFindsThePreviousTokenAndInductionHeads) {
  // The embedded demo model (assets/demo-model, docs/demo-model.md): two layers of four heads trained on repeated
  // random segments over 128 tokens, with a previous-token head in layer 0 and induction heads in layer 1.
  auto model_dir = test::source_dir() / "assets/demo-model";
  auto dir = test::temp_dir("cli-heads");
  auto result = run_cli("heads --model " + model_dir.string() + " --seed 5 --json --plot " +
                        (dir / "heads.html").string() + " --out " + (dir / "heads.safetensors").string());
  ASSERT_EQ(result.status, 0) << result.output;
  auto json = nlohmann::json::parse(result.output);
  for (const char* key : {"previous_token", "duplicate_token", "induction", "entropy"}) {
    ASSERT_EQ(json[key].size(), 2u) << key;
    ASSERT_EQ(json[key][0].size(), 4u) << key;
  }
  // The same numbers as the library on the same seeded sequences (8 sequences, period 20, two copies, no BOS).
  auto model = load_pretrained(model_dir);
  EXPECT_EQ(json["period"], 20);
  auto scores =
      head_scores(model, repeated_random_sequences({.batch = 8, .period = 20, .high = 128, .seed = 5}), {.period = 20});
  for (int l = 0; l < 2; ++l)
    for (int h = 0; h < 4; ++h) {
      EXPECT_NEAR(json["induction"][l][h].get<double>(), scores.induction[l][h].item<double>(), 1e-6);
      EXPECT_NEAR(json["previous_token"][l][h].get<double>(), scores.previous_token[l][h].item<double>(), 1e-6);
    }
  double best_prev_0 = 0, best_prev_1 = 0, best_induction_0 = 0, best_induction_1 = 0;
  for (int h = 0; h < 4; ++h) {
    best_prev_0 = std::max(best_prev_0, json["previous_token"][0][h].get<double>());
    best_prev_1 = std::max(best_prev_1, json["previous_token"][1][h].get<double>());
    best_induction_0 = std::max(best_induction_0, json["induction"][0][h].get<double>());
    best_induction_1 = std::max(best_induction_1, json["induction"][1][h].get<double>());
  }
  EXPECT_GT(best_prev_0, best_prev_1);
  EXPECT_GT(best_induction_1, 0.2);
  EXPECT_LT(best_induction_0, 0.1);
  auto figures = test::page_figures(dir / "heads.html");
  ASSERT_EQ(figures.size(), 4u);  // four [2, 4] heatmaps
  for (const auto& f : figures) {
    EXPECT_EQ(f["type"], "heatmap");
    EXPECT_EQ(f["data"][0]["z"].size(), 2u);
    EXPECT_EQ(f["data"][0]["z"][0].size(), 4u);
  }
  EXPECT_NEAR(figures[2]["data"][0]["z"][1][0].get<double>(), json["induction"][1][0].get<double>(), 1e-6);
  auto file = SafetensorsFile::open(dir / "heads.safetensors");
  EXPECT_EQ(file->tensor("induction").sizes(), (std::vector<int64_t>{2, 4}));

  // Given ids and a period; a missing period is a clear error.
  result = run_cli("heads --model " + model_dir.string() + " --input-ids 5,6,7,8,5,6,7,8,5,6,7,8 --period 4");
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("strongest induction head: L1"), std::string::npos) << result.output;
  result = run_cli("heads --model " + model_dir.string() + " --input-ids 5,6,7,8,5,6,7,8");
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.output.find("--input-ids needs --period"), std::string::npos) << result.output;
}

TEST(AnalysisCli, LensPrintsTheTableAndJson) {
  // The embedded demo model (assets/demo-model), trained on random segments repeated: 16 random tokens, two copies and
  // the start of a third. Its induction heads predict the next token of the repeat (21 after ... 9, 83) — but only
  // after its last layer.
  auto model_dir = (test::source_dir() / "assets/demo-model").string();
  const std::string segment = "44,47,117,64,67,123,67,103,9,83,21,114,36,87,70,88";
  const std::string ids = segment + "," + segment + ",44,47,117,64,67,123,67,103,9,83";
  auto result = run_cli("lens --model " + model_dir + " --input-ids " + ids + " --top-k 3 --json");
  ASSERT_EQ(result.status, 0) << result.output;
  auto json = nlohmann::json::parse(result.output);
  EXPECT_EQ(json["labels"], nlohmann::json({"0_pre", "1_pre", "final_post"}));
  ASSERT_EQ(json["top_tokens"].size(), 3u);
  ASSERT_EQ(json["top_tokens"][2][0].size(), 42u);
  ASSERT_EQ(json["top_tokens"][2][0][41].size(), 3u);
  EXPECT_EQ(json["top_tokens"][2][0][41][0], 21);
  EXPECT_EQ(json["targets"][0][41], 21);
  EXPECT_EQ(json["target_ranks"][2][0][41], 0);
  EXPECT_GT(json["target_ranks"][1][0][41].get<int64_t>(), 0);  // not yet before the induction heads' layer
  EXPECT_GT(json["target_probs"][2][0][41].get<double>(), 0.5);
  result = run_cli("lens --model " + model_dir + " --input-ids " + ids + " --target 21");
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("sequence 0 position 41 (input 83), tracking 21:"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("final_post  rank      0"), std::string::npos) << result.output;
}

TEST(AnalysisCli, AttributeSplitsTheLogitDifferenceByLayerAndHead) {
  auto model_dir = test::saved_random_model("gpt2");
  auto dir = test::temp_dir("cli-attribute");
  auto result = run_cli("attribute --model " + model_dir.string() +
                        " --input-ids 1,2,3,4,5,6 --metric logit-diff:7,8 --neurons 3 --json --plot " +
                        (dir / "dla.html").string());
  ASSERT_EQ(result.status, 0) << result.output;
  auto json = nlohmann::json::parse(result.output);
  auto model = load_pretrained(model_dir);
  auto tokens = torch::tensor({1, 2, 3, 4, 5, 6}, torch::kInt64).unsqueeze(0);
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model(tokens);
  }
  EXPECT_NEAR(json["total"].get<double>(), logit_diff(logits, torch::tensor(7), torch::tensor(8)).item<double>(), 1e-4);
  double sum = json["bias"].get<double>();
  for (const auto& v : json["components"]) sum += v.get<double>();
  EXPECT_NEAR(sum, json["total"].get<double>(), 1e-4);
  EXPECT_EQ(json["component_labels"][0], "embed");
  ASSERT_EQ(json["heads"].size(), 2u);
  ASSERT_EQ(json["heads"][0].size(), 4u);
  EXPECT_EQ(json["top_neurons"].size(), 3u);
  auto figures = test::page_figures(dir / "dla.html");
  ASSERT_EQ(figures.size(), 3u);
  EXPECT_EQ(figures[0]["type"], "bar");  // one bar per component, labelled
  EXPECT_EQ(figures[0]["data"][0]["y"].size(), json["components"].size());
  EXPECT_EQ(figures[0]["layout"]["xaxis"]["ticktext"][0], "embed");
  EXPECT_EQ(figures[1]["type"], "line");  // the accumulated residual stream, ending at the total
  EXPECT_EQ(figures[1]["data"][0]["y"].size(), json["components"].size() + 1);
  EXPECT_NEAR(figures[1]["data"][0]["y"].back().get<double>(), json["total"].get<double>(), 1e-4);
  EXPECT_EQ(figures[2]["type"], "heatmap");  // layer x head, centred on 0
  EXPECT_EQ(figures[2]["data"][0]["zmid"], 0);

  result = run_cli("attribute --model " + model_dir.string() + " --input-ids 1,2,3 --metric loss");
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.output.find("direct logit attribution needs a metric read along logit directions"),
            std::string::npos)
      << result.output;
  result = run_cli("attribute --model " + model_dir.string() + " --input-ids 1,2,3 --metric logit-diff:7");
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.output.find("write logit-diff:A,B"), std::string::npos) << result.output;
}

TEST(AnalysisCli, LensToolAndPlotDrawTheirResults) {
  auto model_dir = (test::source_dir() / "assets/demo-model").string();
  auto dir = test::temp_dir("cli-lens-plot");
  auto result =
      run_cli("lens --model " + model_dir + " --input-ids 5,9,21,5,9 --json --plot " + (dir / "lens.html").string());
  ASSERT_EQ(result.status, 0) << result.output;
  auto json = nlohmann::json::parse(result.output);
  auto figures = test::page_figures(dir / "lens.html");
  ASSERT_EQ(figures.size(), 2u);
  // The table: one row per decoded stream, the top token's id written in each cell, as the JSON has it.
  const auto& table = figures[0]["data"][0];
  ASSERT_EQ(table["text"].size(), json["labels"].size());
  for (std::size_t n = 0; n < json["labels"].size(); ++n)
    for (std::size_t p = 0; p < 5; ++p)
      EXPECT_EQ(table["text"][n][p], std::to_string(json["top_tokens"][n][0][p][0].get<int64_t>()));
  EXPECT_NEAR(figures[1]["data"][0]["y"].back().get<double>(), json["target_probs"].back()[0][4].get<double>(), 1e-6);

  result = run_cli("tool attention attention_entropy --model " + model_dir + " --input-ids 5,9,21,5,9 --plot " +
                   (dir / "tool.html").string());
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("wrote " + (dir / "tool.html").string()), std::string::npos) << result.output;
  EXPECT_FALSE(test::page_figures(dir / "tool.html").empty());
  // A result that knows its figure: ROME's grid, layers x tokens with the subject marked (the json backend: specs).
  result = run_cli("tool causal trace_token_probability --model " + model_dir +
                   " --input-ids 5,9,21,33,5,9,21 --target 33 --subject 1,3 --kind mlp --samples 2");
  EXPECT_EQ(result.status, 1);  // the embedded demo model is attention-only
  EXPECT_NE(result.output.find("kind mlp: arrakis-induction-2l has no MLPs"), std::string::npos) << result.output;
  result = run_cli("tool causal trace_token_probability --model " + model_dir +
                   " --input-ids 5,9,21,33,5,9,21 --target 33 --subject 1,3 --kind resid --samples 2 --plot " +
                   (dir / "rome.json").string());
  ASSERT_EQ(result.status, 0) << result.output;
  auto rome = test::read_json(dir / "rome.json")["figures"];
  ASSERT_EQ(rome.size(), 1u);
  EXPECT_EQ(rome[0]["cols"]["labels"], nlohmann::json::parse(R"(["5", "9*", "21*", "33", "5", "9", "21"])"));
  EXPECT_EQ(rome[0]["values"].size(), 2u);  // layers
  EXPECT_EQ(rome[0]["colour"], "diverging");

  // The seeds' PlotSpec from the shell: TransformerLens' module name for the layer's attention.
  result = run_cli("plot --model " + model_dir + " --input-ids 5,9,21,5,9 --type attention attention_view --key " +
                   "blocks.1.attn --plot " + (dir / "plot.html").string());
  ASSERT_EQ(result.status, 0) << result.output;
  auto drawn = test::page_figures(dir / "plot.html");
  ASSERT_EQ(drawn.size(), 5u);  // four heads' patterns, then the view of all four
  EXPECT_EQ(drawn[4]["type"], "attention_view");
  EXPECT_EQ(drawn[4]["view"]["patterns"][1], drawn[1]["data"][0]["z"]);  // head 1: the same pattern in both
  result =
      run_cli("plot --model " + model_dir + " --input-ids 5,9 --type atention --plot " + (dir / "x.html").string());
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.output.find("did you mean 'attention'"), std::string::npos) << result.output;
  result = run_cli("lens --model " + model_dir + " --input-ids 5,9 --plot " + (dir / "lens.pdf").string());
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.output.find("cannot tell how to draw figures into a '.pdf' file"), std::string::npos)
      << result.output;
}

}  // namespace
}  // namespace arrakis
