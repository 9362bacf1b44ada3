// `arrakis experiments ...` and the demo's experiment logging, end to end through the command line.
#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "arrakis/demo/demo_model.hpp"
#include "arrakis/experiments/interpretability_bench.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

using test::run_cli;

TEST(BenchCli, DemoTwiceGivesOneVersionPerAnalysisWithTwoRunsEach) {
  auto dir = test::temp_dir("bench-cli-demo").string();
  for (int i = 0; i < 2; ++i) {
    auto demo = run_cli("demo --save-dir " + dir);
    ASSERT_EQ(demo.status, 0) << demo.output;
    EXPECT_NE(demo.output.find("logged as an experiment in " + dir), std::string::npos) << demo.output;
  }
  auto list = run_cli("experiments list --json --save-dir " + dir);
  ASSERT_EQ(list.status, 0) << list.output;
  auto json = nlohmann::json::parse(list.output);
  std::vector<std::string> names;
  for (const auto& e : json["experiments"]) {
    names.push_back(e["name"]);
    ASSERT_EQ(e["versions"].size(), 1u) << e.dump();
    EXPECT_EQ(e["versions"][0]["runs"], 2) << e.dump();
    EXPECT_EQ(e["versions"][0]["hash"].get<std::string>().size(), 64u);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"demo.activation_cache", "demo.attention_heads", "demo.circuits",
                                      "demo.induction_ablation", "demo.patching", "demo.predictions", "demo.profile"}));
  // The figures a person opens: one page with every figure (drawn in a browser by tests/cli/test_plots_browser.cpp).
  std::ifstream page(std::filesystem::path(dir) / "demo-report.html");
  std::string html((std::istreambuf_iterator<char>(page)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("K-composition"), std::string::npos);
  EXPECT_NE(html.find("Activation patching of the residual stream"), std::string::npos);
  EXPECT_NE(html.find("id=\"figure-6\""), std::string::npos);
  EXPECT_EQ(html.find("id=\"figure-7\""), std::string::npos);

  // The demo's results are deterministic where they should be: both runs found the same strongest head.
  auto runs = run_cli("experiments runs demo.attention_heads --json --save-dir " + dir);
  ASSERT_EQ(runs.status, 0) << runs.output;
  auto records = nlohmann::json::parse(runs.output)["runs"];
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["results"]["strongest_induction_head"], records[1]["results"]["strongest_induction_head"]);
  EXPECT_EQ(records[0]["results"]["induction_scores"], records[1]["results"]["induction_scores"]);

  auto show = run_cli("experiments show demo.predictions --save-dir " + dir);
  ASSERT_EQ(show.status, 0) << show.output;
  EXPECT_NE(show.output.find("lm_loss(ctx.logits, tokens"), std::string::npos) << show.output;
  auto run = run_cli("experiments show --run 1 --save-dir " + dir);
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("weights sha256"), std::string::npos) << run.output;
}

TEST(BenchCli, ExperimentsCommandsShowVersionsDiffsRunsAndExports) {
  auto dir = test::temp_dir("bench-cli-experiments");
  auto model = load_demo_model();
  std::string v1, v2;
  {
    InterpretabilityBench bench(model, dir);
    auto first = ARRAKIS_EXPERIMENT(bench, "scale", (double x), { return x * 2; });
    first(1.5);
    first(2.5);
    auto second = ARRAKIS_EXPERIMENT(bench, "scale", (double x), { return x * 3; });
    second(1.5);
    v1 = first.version();
    v2 = second.version();
  }
  const std::string at = " --save-dir " + dir.string();
  auto list = run_cli("experiments list" + at);
  ASSERT_EQ(list.status, 0) << list.output;
  EXPECT_NE(list.output.find("scale"), std::string::npos);
  EXPECT_NE(list.output.find(v1.substr(0, 12)), std::string::npos) << list.output;

  auto diff = run_cli("experiments diff scale " + v1.substr(0, 8) + " " + v2.substr(0, 8) + at);
  ASSERT_EQ(diff.status, 0) << diff.output;
  EXPECT_NE(diff.output.find("-  return x * 2;\n+  return x * 3;\n"), std::string::npos) << diff.output;

  auto runs = run_cli("experiments runs scale " + v1 + " --json" + at);
  ASSERT_EQ(runs.status, 0) << runs.output;
  auto records = nlohmann::json::parse(runs.output)["runs"];
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["arguments"]["x"], 2.5);
  EXPECT_EQ(records[1]["results"]["result"], 5.0);

  auto show = run_cli("experiments show scale " + v2.substr(0, 6) + at);
  ASSERT_EQ(show.status, 0) << show.output;
  EXPECT_NE(show.output.find("(double x) {\n  return x * 3;\n}"), std::string::npos) << show.output;

  auto out = dir / "export.json";
  auto exported = run_cli("experiments export --out " + out.string() + at);
  ASSERT_EQ(exported.status, 0) << exported.output;
  std::ifstream in(out);
  auto json = nlohmann::json::parse(in);
  ASSERT_EQ(json["experiments"].size(), 1u);
  EXPECT_EQ(json["experiments"][0]["versions"][1]["source"], "(double x) { return x * 3; }");
  EXPECT_EQ(json["experiments"][0]["versions"][0]["runs"].size(), 2u);

  // Errors: an unknown experiment, a folder without a database (never created by reading).
  auto unknown = run_cli("experiments runs nope" + at);
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.output.find("experiments: scale"), std::string::npos) << unknown.output;
  auto empty = test::temp_dir("bench-cli-empty");
  auto missing = run_cli("experiments list --save-dir " + empty.string());
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("no experiment database"), std::string::npos) << missing.output;
  EXPECT_FALSE(std::filesystem::exists(empty / "experiments.sqlite"));
}

}  // namespace
}  // namespace arrakis
