// Metrics parsed from the command line's spelling on a random GPT-2-shaped model (vocabulary 512), token texts
// through the GPT-2 tokenizer (gpt2_vocabulary.hpp).
#include <fmt/format.h>

#include "arrakis/analysis/metrics.hpp"
#include "arrakis/error.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "gpt2_vocabulary.hpp"
#include "test_support.hpp"
#include "unit/random_models.hpp"

namespace arrakis {
namespace {

TEST(AnalysisMetrics, ParsesTheCommandLineSpelling) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  auto model = test::random_model("gpt2");
  auto parsed = parse_metric("logit-diff:5,6", model);
  EXPECT_EQ(to_string(parsed.kind), "logit-diff");
  EXPECT_EQ(parsed.answer, 5);
  EXPECT_EQ(parsed.wrong, 6);
  EXPECT_TRUE(parsed.linear());
  EXPECT_EQ(parse_metric("logprob: 42", model).answer, 42);
  auto tokens = torch::randint(0, 512, {2, 6}, torch::kInt64);
  MetricContext context;
  context.tokens = tokens;
  EXPECT_EQ(to_string(parse_metric("loss", model, context).kind), "loss");
  EXPECT_NE(test::error_of([&] { parse_metric("loss", model); }).find("needs the tokens"), std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_metric("kl", model); }).find("reference logits"), std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_metric("logit-diff:5", model); }).find("logit-diff:A,B"), std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_metric("logit-diff:5,600", model); }).find("token id 600"), std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_metric("entropy", model); }).find("unknown metric 'entropy'"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { parse_metric("logprob:Mary", model); }).find("no tokenizer"), std::string::npos);
  // Texts through a tokenizer: GPT-2's " the" is 262 and " a" 257 (both inside the model's 512-token vocabulary).
  model.set_tokenizer(load_tokenizer(test::gpt2_vocabulary_dir()));
  auto texts = parse_metric("logit-diff: the, a", model);
  EXPECT_EQ(texts.answer, 262);
  EXPECT_EQ(texts.wrong, 257);
  EXPECT_NE(test::error_of([&] { parse_metric("logprob: Mary had", model); }).find("not a single token"),
            std::string::npos);
}

}  // namespace
}  // namespace arrakis
