// The tokenizer layer's behaviour with the GPT-2 vocabulary (gpt2_vocabulary.hpp: ../shared's official files, or
// the same files written from node_modules on a fresh clone): Unicode whitespace, special and added tokens, the
// TransformerLens conveniences, errors, robustness. Known ids are written out where they are used; they are those
// OpenAI's encoder gives (gpt-3-encoder@1.1.4, the source of ../shared/fixtures/tokenizer/gpt2_tokenizer_cases.json).
// Agreement with every reference case: reference/test_tokenizer.cpp. Added-token expectations: Hugging Face
// tokenizers' tests/added_tokens.rs.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "arrakis/error.hpp"
#include "arrakis/tokenizer/token_batch.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "gpt2_vocabulary.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<int64_t>;
using arrakis::test::Gpt2JsonOptions;
using arrakis::test::write_file;
using arrakis::test::write_gpt2_tokenizer_json;

constexpr int64_t kEndOfText = arrakis::test::kGpt2EndOfText;
constexpr std::string_view kEndOfTextText = "<|endoftext|>";

// Ids OpenAI's encoder gives (gpt-3-encoder@1.1.4, as in ../shared's GPT-2 fixture cases).
const Ids kHelloWorld = {15496, 995, 0};  // "Hello world!"
const Ids kA = {64};                      // "a"

// OpenAI's encoder (encoder.json + vocab.bpe), loaded once for the whole suite.
const arrakis::Tokenizer& reference() {
  static const std::shared_ptr<arrakis::Tokenizer> tokenizer =
      arrakis::load_tokenizer(arrakis::test::gpt2_vocabulary_dir());
  return *tokenizer;
}

}  // namespace

TEST(Tokenizer, WhitespaceIsUnicodeWhiteSpace) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  // Ids from gpt-3-encoder@1.1.4 (the fixture's source). U+180E is no longer whitespace in Unicode (Python's regex
  // and Oniguruma agree), though PCRE2's own \s still takes it; the other characters are whitespace.
  EXPECT_EQ(reference().encode("a\u180Eb c"), (Ids{64, 157, 254, 236, 65, 269}));
  EXPECT_EQ(reference().encode("x \u180E y  \u180E\n"), (Ids{87, 28053, 254, 236, 331, 220, 28053, 254, 236, 198}));
  EXPECT_EQ(reference().encode("ideographic\u3000space\u2000en quad  \u00A0 nbsp\u2028line"),
            (Ids{485, 6826, 5099, 222, 13200, 447, 222, 268, 15094, 220, 5624, 299, 24145, 447, 101, 1370}));
}

// ---- special tokens ----------------------------------------------------------------------------------------------

TEST(Tokenizer, EndOfTextIsSplitOutOnlyWithTokenizerJson) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  const fs::path dir = write_gpt2_tokenizer_json("tokenizer-special");
  const auto tokenizer = arrakis::load_tokenizer(dir);
  const Ids hello = kHelloWorld;

  EXPECT_EQ(tokenizer->encode(kEndOfTextText), Ids{kEndOfText});
  Ids expected = hello;
  expected.push_back(kEndOfText);
  expected.insert(expected.end(), hello.begin(), hello.end());
  EXPECT_EQ(tokenizer->encode("Hello world!<|endoftext|>Hello world!"), expected);
  EXPECT_EQ(tokenizer->decode(expected), "Hello world!<|endoftext|>Hello world!");
  EXPECT_EQ(tokenizer->decode(expected, /*skip_special=*/true), "Hello world!Hello world!");
  EXPECT_EQ(tokenizer->token_to_id(kEndOfTextText), kEndOfText);
  EXPECT_EQ(tokenizer->id_to_token(kEndOfText), kEndOfTextText);

  // OpenAI's files: the same text spells the token out.
  EXPECT_EQ(reference().encode(kEndOfTextText), (Ids{27, 91, 437, 1659, 5239, 91, 29}));
  fs::remove_all(dir);
}

TEST(Tokenizer, SpecialTokensComeFromTheConfigFiles) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  const fs::path dir = write_gpt2_tokenizer_json("tokenizer-config");
  // transformers' AddedToken object form, a plain string, and an explicit null.
  write_file(dir / "tokenizer_config.json", R"({
    "bos_token": {"__type": "AddedToken", "content": "<|endoftext|>", "lstrip": false, "normalized": true,
                  "rstrip": false, "single_word": false},
    "eos_token": "<|endoftext|>",
    "unk_token": null
  })");
  write_file(dir / "special_tokens_map.json", R"({"pad_token": "!"})");
  const auto tokenizer = arrakis::load_tokenizer(dir);
  const arrakis::SpecialTokens& special = tokenizer->special_tokens();
  EXPECT_EQ(special.bos, kEndOfText);
  EXPECT_EQ(special.eos, kEndOfText);
  EXPECT_EQ(special.pad, 0);  // "!" is GPT-2's token 0
  EXPECT_FALSE(special.unk.has_value());

  // A special token that is not in the vocabulary names the file.
  write_file(dir / "special_tokens_map.json", R"({"pad_token": "<pad>"})");
  const std::string message = arrakis::test::arrakis_error_of([&] { arrakis::load_tokenizer(dir); });
  EXPECT_NE(message.find("special_tokens_map.json"), std::string::npos) << message;
  EXPECT_NE(message.find("<pad>"), std::string::npos) << message;
  fs::remove_all(dir);
}

TEST(Tokenizer, OpenAiFilesDefaultToEndOfTextAsBosEosAndPad) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  const arrakis::SpecialTokens& special = reference().special_tokens();
  EXPECT_EQ(special.bos, kEndOfText);
  EXPECT_EQ(special.eos, kEndOfText);
  EXPECT_EQ(special.pad, kEndOfText);
}

// ---- added-token options: the expectations of Hugging Face tokenizers' tests/added_tokens.rs (GPT-2 vocab) -----

namespace {

// Ids of the token spellings Hugging Face's tests list; an added token's spelling includes what lstrip/rstrip took.
Ids ids_of_spellings(const arrakis::Tokenizer& tokenizer, const std::vector<std::string>& spellings,
                     const std::map<std::string, int64_t>& added) {
  Ids ids;
  for (const std::string& spelling : spellings) {
    std::string trimmed = spelling;
    trimmed.erase(0, trimmed.find_first_not_of(' '));
    trimmed.erase(trimmed.find_last_not_of(' ') + 1);
    if (const auto it = added.find(trimmed); it != added.end() && !trimmed.empty()) {
      ids.push_back(it->second);
    } else {
      const auto id = tokenizer.token_to_id(spelling);
      if (!id) throw std::runtime_error("no token " + spelling);
      ids.push_back(*id);
    }
  }
  return ids;
}

json added_token(int64_t id, const std::string& content, bool lstrip = false, bool rstrip = false,
                 bool single_word = false) {
  return {{"id", id},         {"content", content}, {"single_word", single_word},
          {"lstrip", lstrip}, {"rstrip", rstrip},   {"normalized", false},
          {"special", true}};
}

}  // namespace

TEST(Tokenizer, AddedTokenLstripAndRstripAsHuggingFace) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  const std::string input = "I saw a <mask> 😺";
  const std::map<std::string, int64_t> added = {{"<mask>", 50257}};
  struct Variant {
    bool lstrip, rstrip, add_prefix_space;
    std::vector<std::string> tokens;
  };
  const std::vector<Variant> variants = {
      {true, false, true, {"ĠI", "Ġsaw", "Ġa", " <mask>", "ĠðŁĺ", "º"}},
      {false, true, false, {"I", "Ġsaw", "Ġa", "Ġ", "<mask> ", "ðŁĺ", "º"}},
      {false, true, true, {"ĠI", "Ġsaw", "Ġa", "Ġ", "<mask> ", "ĠðŁĺ", "º"}},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(testing::Message() << "lstrip " << v.lstrip << " rstrip " << v.rstrip << " add_prefix_space "
                                    << v.add_prefix_space);
    Gpt2JsonOptions options;
    options.add_prefix_space = v.add_prefix_space;
    options.added_tokens = json::array({added_token(50257, "<mask>", v.lstrip, v.rstrip)});
    const fs::path dir = write_gpt2_tokenizer_json("tokenizer-strip", options);
    const auto tokenizer = arrakis::load_tokenizer(dir);
    EXPECT_EQ(tokenizer->vocab_size(), 50258);
    EXPECT_EQ(tokenizer->encode(input), ids_of_spellings(*tokenizer, v.tokens, added));
    fs::remove_all(dir);
  }
}

TEST(Tokenizer, AddedTokenSingleWordAndOverlapsAsHuggingFace) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  const std::string input = "I like dancing";
  const int64_t ing = *reference().token_to_id("ing");
  struct Variant {
    json added;
    std::map<std::string, int64_t> ids;
    std::vector<std::string> tokens;
  };
  const std::vector<Variant> variants = {
      {json::array({added_token(ing, "ing", false, false, true)}), {{"ing", ing}}, {"I", "Ġlike", "Ġdancing"}},
      {json::array({added_token(ing, "ing")}), {{"ing", ing}}, {"I", "Ġlike", "Ġd", "anc", "ing"}},
      {json::array({added_token(50257, "danc"), added_token(50258, "nci"), added_token(ing, "ing")}),
       {{"danc", 50257}, {"nci", 50258}, {"ing", ing}},
       {"I", "Ġlike", "Ġ", "danc", "ing"}},
      // Leftmost-longest, whatever the order the tokens were added in.
      {json::array(
           {added_token(50257, "nci"), added_token(50258, "danc"), added_token(ing, "ing"), added_token(50259, "ike")}),
       {{"nci", 50257}, {"danc", 50258}, {"ing", ing}, {"ike", 50259}},
       {"I", "Ġl", "ike", "Ġ", "danc", "ing"}},
  };
  for (std::size_t i = 0; i < variants.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "variant " << i);
    Gpt2JsonOptions options;
    options.added_tokens = variants[i].added;
    const fs::path dir = write_gpt2_tokenizer_json("tokenizer-single-word", options);
    const auto tokenizer = arrakis::load_tokenizer(dir);
    EXPECT_EQ(tokenizer->encode(input), ids_of_spellings(*tokenizer, variants[i].tokens, variants[i].ids));
    fs::remove_all(dir);
  }
}

// ---- TransformerLens conveniences ------------------------------------------------------------------------------

TEST(Tokenizer, ToTokensPrependsBosAndPadsLeftOrRight) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  const fs::path dir = write_gpt2_tokenizer_json("tokenizer-to-tokens");
  const auto tokenizer = arrakis::load_tokenizer(dir);
  const Ids hello = kHelloWorld;  // 3 tokens
  const Ids a = kA;               // 1 token
  ASSERT_EQ(hello.size(), 3u);
  ASSERT_EQ(a.size(), 1u);
  const std::vector<std::string> texts = {"Hello world!", "a"};
  const int64_t E = kEndOfText;

  const auto right = arrakis::to_tokens(*tokenizer, texts);
  ASSERT_EQ(right.input_ids.sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(right.input_ids.scalar_type(), torch::kLong);
  EXPECT_TRUE(
      torch::equal(right.input_ids, torch::tensor({E, hello[0], hello[1], hello[2], E, a[0], E, E}).reshape({2, 4})));
  EXPECT_TRUE(
      torch::equal(right.attention_mask, torch::tensor({1, 1, 1, 1, 1, 1, 0, 0}, torch::kLong).reshape({2, 4})));

  const auto left =
      arrakis::to_tokens(*tokenizer, texts, {.prepend_bos = true, .padding_side = arrakis::PaddingSide::Left});
  EXPECT_TRUE(
      torch::equal(left.input_ids, torch::tensor({E, hello[0], hello[1], hello[2], E, E, E, a[0]}).reshape({2, 4})));
  EXPECT_TRUE(torch::equal(left.attention_mask, torch::tensor({1, 1, 1, 1, 0, 0, 1, 1}, torch::kLong).reshape({2, 4})));

  const auto no_bos = arrakis::to_tokens(*tokenizer, std::string_view("Hello world!"), {.prepend_bos = false});
  EXPECT_TRUE(torch::equal(no_bos.input_ids, torch::tensor({hello[0], hello[1], hello[2]}).reshape({1, 3})));
  EXPECT_TRUE(torch::equal(no_bos.attention_mask, torch::ones({1, 3}, torch::kLong)));
  fs::remove_all(dir);
}

TEST(Tokenizer, ToTokensPadsWithThePadTokenOfTheConfig) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  const fs::path dir = write_gpt2_tokenizer_json("tokenizer-pad");
  write_file(dir / "tokenizer_config.json", R"({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                                "pad_token": "!"})");
  const auto tokenizer = arrakis::load_tokenizer(dir);
  const std::vector<std::string> texts = {"Hello world!", "a"};
  const auto batch = arrakis::to_tokens(*tokenizer, texts);
  EXPECT_EQ(batch.input_ids[1][2].item<int64_t>(), 0);
  EXPECT_EQ(batch.input_ids[1][3].item<int64_t>(), 0);
  fs::remove_all(dir);
}

TEST(Tokenizer, ToStrTokensToStringAndToSingleToken) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  const fs::path dir = write_gpt2_tokenizer_json("tokenizer-str-tokens");
  const auto tokenizer = arrakis::load_tokenizer(dir);

  EXPECT_EQ(arrakis::to_str_tokens(*tokenizer, std::string_view("Hello world!")),
            (std::vector<std::string>{"<|endoftext|>", "Hello", " world", "!"}));
  EXPECT_EQ(arrakis::to_str_tokens(*tokenizer, std::string_view("Hello world!"), /*prepend_bos=*/false),
            (std::vector<std::string>{"Hello", " world", "!"}));
  const Ids ids = kHelloWorld;
  EXPECT_EQ(arrakis::to_str_tokens(*tokenizer, std::span<const int64_t>(ids)),
            (std::vector<std::string>{"Hello", " world", "!"}));

  EXPECT_EQ(arrakis::to_string(*tokenizer, torch::tensor(ids)), "Hello world!");
  EXPECT_EQ(arrakis::to_string(*tokenizer, torch::tensor(ids).to(torch::kInt)), "Hello world!");
  EXPECT_NE(arrakis::test::arrakis_error_of([&] {
              arrakis::to_string(*tokenizer, torch::tensor(ids).reshape({1, 3}));
            }).find("1-D"),
            std::string::npos);
  EXPECT_NE(
      arrakis::test::arrakis_error_of([&] { arrakis::to_string(*tokenizer, torch::tensor({1.5})); }).find("integer"),
      std::string::npos);

  EXPECT_EQ(arrakis::to_single_token(*tokenizer, " world"), ids[1]);
  EXPECT_EQ(arrakis::to_single_token(*tokenizer, "<|endoftext|>"), kEndOfText);
  const std::string message =
      arrakis::test::arrakis_error_of([&] { arrakis::to_single_token(*tokenizer, "Hello world"); });
  EXPECT_NE(message.find("2 tokens"), std::string::npos) << message;
  EXPECT_NE(message.find("\" world\""), std::string::npos) << message;
  EXPECT_FALSE(arrakis::test::arrakis_error_of([&] { arrakis::to_single_token(*tokenizer, ""); }).empty());
  fs::remove_all(dir);
}

// ---- errors name what is at fault ------------------------------------------------------------------------------

TEST(Tokenizer, DecodingAnIdOutsideTheVocabularyNamesTheId) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  for (const int64_t id : {int64_t{50257}, int64_t{-1}, int64_t{1} << 40}) {
    const std::string message = arrakis::test::arrakis_error_of([&] { reference().decode(Ids{15496, id}); });
    EXPECT_NE(message.find(std::to_string(id)), std::string::npos) << message;
    EXPECT_NE(message.find("50257"), std::string::npos) << message;  // the vocabulary size
  }
  EXPECT_NE(arrakis::test::arrakis_error_of([&] { reference().id_to_token(50257); }).find("50257"), std::string::npos);
}

// ---- robustness and speed ----------------------------------------------------------------------------------------

TEST(Tokenizer, InvalidUtf8IsEncodedAsBytesAndDecodedWithReplacementCharacters) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  // Bytes that form no character are their own pieces, encoded by their byte tokens; decoding returns valid UTF-8
  // with U+FFFD per invalid run, as Hugging Face and OpenAI's decoders do.
  const std::string text = "abc\xff def\xe2\x82";
  const Ids ids = reference().encode(text);
  EXPECT_FALSE(ids.empty());
  EXPECT_EQ(reference().decode(ids), "abc\xEF\xBF\xBD def\xEF\xBF\xBD");
  EXPECT_EQ(reference().encode("\xff"), Ids{*reference().token_to_id("ÿ")});  // byte 0xFF is spelled "ÿ"
  // A token that is part of a character shows as U+FFFD on its own (to_str_tokens) but joins up in the text.
  const std::string emoji = "Emoji: 🙂🚀👍🏽 and symbols ©®™ € £ ¥";
  const Ids emoji_ids = reference().encode(emoji);
  const auto pieces = arrakis::to_str_tokens(reference(), std::span<const int64_t>(emoji_ids));
  EXPECT_NE(std::find(pieces.begin(), pieces.end(), "\xEF\xBF\xBD"), pieces.end());
  EXPECT_EQ(reference().decode(emoji_ids), emoji);
}

TEST(Tokenizer, LongWordsAndLongWhitespaceRoundTrip) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  const std::string word(300000, 'a');  // one piece: the merge loop must not be quadratic
  const Ids word_ids = reference().encode(word);
  EXPECT_LT(word_ids.size(), word.size() / 2);
  EXPECT_EQ(reference().decode(word_ids), word);
  const std::string spaces = std::string(1000000, ' ') + "x";  // \s+(?!\S) backtracks one character at the end
  const Ids space_ids = reference().encode(spaces);
  EXPECT_EQ(reference().decode(space_ids), spaces);
}

TEST(Tokenizer, EncodeIsThreadSafe) {
  ARRAKIS_REQUIRE_GPT2_VOCABULARY();
  const fs::path dir = write_gpt2_tokenizer_json("tokenizer-threads");
  // Words, contractions, numbers, code, whitespace runs, several scripts, emoji, the special token, nothing.
  const std::vector<std::string> texts = {
      "When Mary and John went to the store, John gave a drink to",
      "I'm sure you'll see they've done it; we'd've said so. It's 'quoted'.",
      "Numbers: 0 1 12 123 1234 12345 3.14159 -42 1e10 2026-11-22",
      "  leading spaces and   multiple   spaces  ",
      "tabs\tand\nnewlines\n\n  indented line\r\nwindows line",
      "def foo(x):\n    return x ** 2  # comment\n",
      "Unicode: café naïve résumé Zürich — “quotes” … 你好，世界 こんにちは Привет мир ٣٤٥",
      "Emoji: 🙂🚀👍🏽 and symbols ©®™ € £ ¥",
      "Hello world!<|endoftext|>The next document",
      "supercalifragilisticexpialidocious antidisestablishmentarianism",
      "",
      "a",
  };
  // The ids of one encode after another, from a second tokenizer so that the one under test starts with an empty
  // word cache, filled concurrently.
  const auto sequential = arrakis::load_tokenizer(dir);
  std::vector<Ids> expected;
  for (const std::string& text : texts) expected.push_back(sequential->encode(text));
  const auto tokenizer = arrakis::load_tokenizer(dir);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round)
        for (std::size_t i = 0; i < texts.size(); ++i)
          if (tokenizer->encode(texts[i]) != expected[i]) ++failures[t];
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
  fs::remove_all(dir);
}
