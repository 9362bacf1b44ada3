// `arrakis patch` and `arrakis bench patching` end to end: the JSON a script reads against the library's naive sweep.
#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "arrakis/analysis/activation_patching.hpp"
#include "arrakis/analysis/attribution_patching.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

using test::run_cli;

torch::Tensor from_json(const nlohmann::json& j) {
  if (!j.is_array()) return torch::tensor(j.get<double>(), torch::kFloat64);
  std::vector<torch::Tensor> rows;
  for (const auto& item : j) rows.push_back(from_json(item));
  return torch::stack(rows);
}

const char* kClean = "3,14,15,92,65,35,89";
const char* kCorrupted = "3,14,15,79,65,35,88";

PatchingRuns runs_of_the_ids() {
  auto parse = [](const std::string& s) {
    std::vector<int64_t> ids;
    for (std::size_t start = 0; start < s.size();) {
      auto end = s.find(',', start);
      if (end == std::string::npos) end = s.size();
      ids.push_back(std::stoll(s.substr(start, end - start)));
      start = end + 1;
    }
    return torch::tensor(ids, torch::kInt64).unsqueeze(0);
  };
  return {parse(kClean), parse(kCorrupted), {}, {}};
}

TEST(PatchingCli, JsonResultEqualsTheLibrarysNaiveSweep) {
  auto dir = test::saved_random_model("llama");
  auto model = load_pretrained(dir);
  auto metric = logit_diff_metric(7, 8);
  struct Case {
    const char* component;
    bool by_position;
    PatchComponent kind;
    std::vector<int64_t> shape;
  };
  for (const auto& c : std::vector<Case>{{"resid_pre", false, PatchComponent::ResidPre, {2, 7}},
                                         {"k", false, PatchComponent::K, {2, 2}},  // grouped-query: 2 key/value heads
                                         {"z", true, PatchComponent::Z, {2, 7, 4}}}) {
    auto result =
        run_cli(fmt::format("patch --model {} --clean {} --corrupted {} --component {} {} --metric "
                            "logit-diff:7,8 --json",
                            dir.string(), kClean, kCorrupted, c.component, c.by_position ? "--by-position" : ""),
                /*merge=*/false);
    ASSERT_EQ(result.status, 0) << result.output;
    auto json = nlohmann::json::parse(result.output);
    auto values = from_json(json.at("result"));
    EXPECT_EQ(values.sizes().vec(), c.shape) << c.component;
    ActivationPatchingOptions options;
    options.component = c.kind;
    options.by_position = c.by_position;
    options.method = PatchingMethod::Naive;
    auto naive = activation_patching(model, runs_of_the_ids(), metric, options);
    EXPECT_LT(test::max_abs_diff(values, naive.values), 1e-4) << c.component;
    EXPECT_NEAR(json.at("clean_metric").get<double>(), naive.clean_metric, 1e-5);
    EXPECT_NEAR(json.at("corrupted_metric").get<double>(), naive.corrupted_metric, 1e-5);
    EXPECT_EQ(json.at("labels").at("layer"), nlohmann::json({"L0", "L1"}));
  }
}

TEST(PatchingCli, AttributionNoisingOutFileAndProgress) {
  auto dir = test::saved_random_model("gpt2");
  auto tmp = test::temp_dir("patch-cli");
  auto out = tmp / "patch.safetensors";
  auto result =
      run_cli(fmt::format("patch --model {} --clean {} --corrupted {} --component attn_out --metric loss "
                          "--noising --out {} --plot {}",
                          dir.string(), kClean, kCorrupted, out.string(), (tmp / "patch.html").string()));
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("patch: 14/14 cells"), std::string::npos) << result.output;  // progress on stderr
  EXPECT_NE(result.output.find("L1"), std::string::npos) << result.output;                  // the table
  auto figures = test::page_figures(tmp / "patch.html");
  ASSERT_EQ(figures.size(), 1u);  // layer x position
  EXPECT_EQ(figures[0]["data"][0]["z"].size(), 2u);
  auto model = load_pretrained(dir);
  auto runs = runs_of_the_ids();
  ActivationPatchingOptions options;
  options.component = PatchComponent::AttnOut;
  options.noising = true;
  options.method = PatchingMethod::Naive;
  auto naive = activation_patching(model, runs, loss_metric(runs.clean_tokens), options);
  auto file = SafetensorsFile::open(out);
  EXPECT_LT(test::max_abs_diff(file->tensor("result").to(torch::kFloat64), naive.values), 1e-4);

  result = run_cli(fmt::format("patch --model {} --clean {} --corrupted {} --component pattern --metric "
                               "logprob:9 --attribution --json",
                               dir.string(), kClean, kCorrupted),
                   /*merge=*/false);
  ASSERT_EQ(result.status, 0) << result.output;
  AttributionPatchingOptions attribution;
  attribution.component = PatchComponent::Pattern;
  auto expected = attribution_patching(model, runs, logprob_metric(9), attribution);
  EXPECT_LT(test::max_abs_diff(from_json(nlohmann::json::parse(result.output).at("result")), expected.values), 1e-5);
}

TEST(PatchingCli, BadArgumentsAreClearErrors) {
  auto dir = test::saved_random_model("gpt2").string();
  auto result = run_cli("patch --model " + dir + " --clean 1,2,3 --corrupted 1,2 --component z --metric loss");
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.output.find("same shape"), std::string::npos) << result.output;
  result = run_cli("patch --model " + dir + " --clean 1,2,3 --corrupted 1,2,4 --component heads --metric loss");
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.output.find("unknown patching component 'heads'"), std::string::npos) << result.output;
  result = run_cli("patch --model " + dir + " --clean-prompt hi --corrupted 1,2,4 --component z --metric loss");
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.output.find("has no tokenizer"), std::string::npos) << result.output;
}

TEST(PatchingCli, BenchPatchingRunsAndFastMatchesNaive) {
  auto result = run_cli("bench patching --quick --json", /*merge=*/false);
  ASSERT_EQ(result.status, 0) << result.output;
  auto json = nlohmann::json::parse(result.output);
  for (const char* key : {"resid_pre_speedup", "head_z_speedup"}) EXPECT_GT(json.at(key).get<double>(), 0.0) << key;
  EXPECT_LE(json.at("max_abs_diff").get<double>(), 1e-4);
  EXPECT_EQ(json.at("resid_pre").at("cells").get<int64_t>(), 2 * 8);
  EXPECT_EQ(json.at("head_z").at("cells").get<int64_t>(), 2 * 4);
}

}  // namespace
}  // namespace arrakis
