// IOI prompt sets: generated prompts have the structure their names promise (IO once, S twice, ABBA and BABA), the
// corruptions change what they say they change, a seed repeats the set, and JSON Lines round-trips with errors naming
// the line and field.
#include <gtest/gtest.h>

#include "arrakis/analysis/ioi_prompts.hpp"
#include "arrakis/analysis/prompt_set.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

using test::arrakis_error_of;

int64_t count_word(const std::string& text, const std::string& word) {
  // Whole-word occurrences (names are not substrings of one another's words here, but "Ann" in "Anna" would be).
  int64_t n = 0;
  for (std::size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const bool left = at == 0 || !std::isalpha(static_cast<unsigned char>(text[at - 1]));
    const bool right =
        at + word.size() >= text.size() || !std::isalpha(static_cast<unsigned char>(text[at + word.size()]));
    n += left && right;
  }
  return n;
}

TEST(IoiPrompts, IndirectObjectOnceSubjectTwiceBothOrdersAndTheCorruptions) {
  for (auto corruption : {IoiCorruption::Flip, IoiCorruption::ReplaceNames, IoiCorruption::Abc}) {
    const auto prompts = generate_ioi_prompts({.n_prompts = 40, .seed = 3, .corruption = corruption});
    ASSERT_EQ(prompts.size(), 40u);
    int64_t abba = 0;
    for (const auto& p : prompts) {
      const auto& text = p.answered.prompt;
      EXPECT_EQ(count_word(text, p.io), 1) << text;
      EXPECT_EQ(count_word(text, p.s), 2) << text;
      EXPECT_EQ(p.answered.correct, " " + p.io);
      EXPECT_EQ(p.answered.wrong, " " + p.s);
      EXPECT_EQ(text.find(p.io) < text.find(p.s), p.abba) << text;
      abba += p.abba;
      ASSERT_TRUE(p.answered.corrupted);
      const auto& corrupted = *p.answered.corrupted;
      switch (corruption) {
        case IoiCorruption::Flip:  // S's second mention is IO's now: the other name is the answer
          EXPECT_EQ(count_word(corrupted, p.io), 2) << corrupted;
          EXPECT_EQ(count_word(corrupted, p.s), 1) << corrupted;
          break;
        case IoiCorruption::Abc:  // a third name in S's second place
          EXPECT_EQ(count_word(corrupted, p.io), 1) << corrupted;
          EXPECT_EQ(count_word(corrupted, p.s), 1) << corrupted;
          break;
        case IoiCorruption::ReplaceNames:  // neither name left, the same template around the new ones
          EXPECT_EQ(count_word(corrupted, p.io), 0) << corrupted;
          EXPECT_EQ(count_word(corrupted, p.s), 0) << corrupted;
          break;
        default: break;
      }
      // Corruptions keep everything but names: the same number of words.
      EXPECT_EQ(std::count(corrupted.begin(), corrupted.end(), ' '), std::count(text.begin(), text.end(), ' '));
    }
    EXPECT_EQ(abba, 20);
  }
  const auto a = ioi_prompt_set({.n_prompts = 10, .seed = 9}), b = ioi_prompt_set({.n_prompts = 10, .seed = 9});
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(a.prompts[i].to_json(), b.prompts[i].to_json());
  const auto c = ioi_prompt_set({.n_prompts = 10, .seed = 10});
  EXPECT_NE(a.prompts[0].to_json().dump() + a.prompts[1].to_json().dump(),
            c.prompts[0].to_json().dump() + c.prompts[1].to_json().dump());
  EXPECT_FALSE(ioi_prompt_set({.n_prompts = 4, .corruption = IoiCorruption::None}).has_corrupted());
  const auto word_level = generate_ioi_prompts({.n_prompts = 2, .answer_prefix = ""});
  EXPECT_EQ(word_level[0].answered.correct, word_level[0].io);
}

TEST(IoiPrompts, BadOptionsNameWhatIsWrong) {
  EXPECT_NE(arrakis_error_of([] { generate_ioi_prompts({.n_prompts = 0}); }).find("n_prompts"), std::string::npos);
  EXPECT_NE(arrakis_error_of([] {
              generate_ioi_prompts({.corruption = IoiCorruption::Abc, .names = {"Mary", "John"}});
            }).find("needs 3"),
            std::string::npos);
  EXPECT_NE(arrakis_error_of([] { generate_ioi_prompts({.templates = {"{A} and {B} went"}}); }).find("{S}"),
            std::string::npos);
  EXPECT_NE(arrakis_error_of([] { parse_ioi_corruption("swap"); }).find("flip"), std::string::npos);
}

TEST(PromptSet, JsonLinesRoundTripAndErrorsNameTheLineAndField) {
  auto dir = test::temp_dir("prompt-set");
  const auto set = ioi_prompt_set({.n_prompts = 5, .seed = 1});
  set.write_jsonl(dir / "ioi.jsonl");
  const auto read = PromptSet::read_jsonl(dir / "ioi.jsonl");
  ASSERT_EQ(read.prompts.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(read.prompts[i].to_json(), set.prompts[i].to_json());
  EXPECT_TRUE(read.has_corrupted());
  auto error_of = [&](const std::string& text) {
    test::write_file(dir / "bad.jsonl", text);
    return arrakis_error_of([&] { PromptSet::read_jsonl(dir / "bad.jsonl"); });
  };
  const std::string ok = R"({"prompt": "When Mary and John went", "correct": " Mary", "wrong": " John"})";
  test::write_file(dir / "two.jsonl", ok + "\n\n" + ok + "\n");  // blank lines are skipped
  EXPECT_EQ(PromptSet::read_jsonl(dir / "two.jsonl").prompts.size(), 2u);
  EXPECT_NE(
      error_of(ok + "\n" + R"({"prompt": "x", "correct": " Mary"})").find("bad.jsonl:2: field 'wrong' is missing"),
      std::string::npos);
  EXPECT_NE(error_of(R"({"prompt": "x", "correct": 5, "wrong": " John"})").find("field 'correct' is not a string"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"prompt": "x", "correct": " J", "wrong": " J"})").find("both"), std::string::npos);
  EXPECT_NE(error_of(R"({"prompt": "x", "correct": " A", "wrong": " B", "answer": 1})").find("unknown field 'answer'"),
            std::string::npos);
  EXPECT_NE(error_of("[1, 2]").find(":1: a prompt is a JSON object"), std::string::npos);
  EXPECT_NE(error_of("{not json").find(":1: not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("\n \n").find("holds no prompts"), std::string::npos);
}

}  // namespace
}  // namespace arrakis
