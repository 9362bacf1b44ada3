// `arrakis prompts ioi`: the file it writes is the prompt set the library generates for the same seed.
#include <gtest/gtest.h>

#include "arrakis/analysis/ioi_prompts.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

TEST(PromptsCli, IoiWritesTheSeededPromptSet) {
  auto dir = test::temp_dir("prompts-cli");
  const auto file = (dir / "ioi.jsonl").string();
  auto result =
      test::run_cli("prompts ioi --n 12 --seed 4 --corruption abc --answer-prefix '' --out " + file + " --json", false);
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_EQ(nlohmann::json::parse(result.output)["prompts"], 12);
  const auto read = PromptSet::read_jsonl(file);
  const auto expected =
      ioi_prompt_set({.n_prompts = 12, .seed = 4, .corruption = IoiCorruption::Abc, .answer_prefix = ""});
  ASSERT_EQ(read.prompts.size(), 12u);
  for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(read.prompts[i].to_json(), expected.prompts[i].to_json());
  auto bad = test::run_cli("prompts ioi --corruption swap --out " + file);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("not one of none, flip, replace-names, abc"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace arrakis
