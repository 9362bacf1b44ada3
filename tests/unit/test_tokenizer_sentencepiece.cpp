// SentencePiece tokenizer.model files through libsentencepiece, against references from an independent build of
// SentencePiece (@agnai/sentencepiece-js, WebAssembly) for two models trained for these tests
// (tests/data/tokenizers/sentencepiece: train.sh, then make_references.mjs).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arrakis/error.hpp"
#include "arrakis/tokenizer/token_batch.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<int64_t>;
using arrakis::test::read_json;
using arrakis::test::shown;

fs::path data_dir() { return arrakis::test::source_dir() / "tests" / "data" / "tokenizers"; }

// A folder whose tokenizer.model is the named test model.
fs::path model_folder(const std::string& name) {
  const fs::path dir = arrakis::test::temp_dir("sentencepiece-" + name);
  fs::copy_file(data_dir() / "sentencepiece" / (name + ".model"), dir / "tokenizer.model");
  return dir;
}

}  // namespace

TEST(TokenizerSentencePiece, MatchesAnIndependentSentencePieceBuild) {
  ARRAKIS_REQUIRE_SENTENCEPIECE();
  for (const std::string name : {"bpe", "unigram"}) {
    SCOPED_TRACE(name);
    const json fixture = read_json(data_dir() / ("sentencepiece_" + name + ".json"));
    const fs::path dir = model_folder(name);
    const auto tokenizer = arrakis::load_tokenizer(dir);
    EXPECT_NE(tokenizer->describe().find("SentencePiece"), std::string::npos) << tokenizer->describe();
    const int64_t unk = *tokenizer->special_tokens().unk;
    std::size_t with_unk = 0;
    for (const json& c : fixture.at("cases")) {
      const auto text = c.at("text").get<std::string>();
      const auto ids = c.at("ids").get<Ids>();
      EXPECT_EQ(tokenizer->encode(text), ids) << "text: " << shown(text);
      const auto tokens = c.at("tokens").get<std::vector<std::string>>();
      ASSERT_EQ(tokens.size(), ids.size());
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] != unk) {  // SentencePiece lists an unknown piece as the text it covers
          EXPECT_EQ(tokenizer->id_to_token(ids[i]), tokens[i]);
        }
      }
      // SentencePiece writes the unknown piece as " ⁇ "; Arrakis writes "<unk>" or, skipping specials, nothing.
      if (std::find(ids.begin(), ids.end(), unk) != ids.end()) {
        ++with_unk;
        continue;
      }
      EXPECT_EQ(tokenizer->decode(ids, /*skip_special=*/true), c.at("decoded").get<std::string>()) << shown(text);
      EXPECT_EQ(tokenizer->decode(ids), c.at("decoded").get<std::string>()) << shown(text);
    }
    EXPECT_EQ(with_unk > 0, name == "unigram");  // only the model without byte fallback has unknown characters
    fs::remove_all(dir);
  }
}

TEST(TokenizerSentencePiece, SpecialTokensComeFromTheModel) {
  ARRAKIS_REQUIRE_SENTENCEPIECE();
  const fs::path dir = model_folder("bpe");
  const auto bpe = arrakis::load_tokenizer(dir);
  const arrakis::SpecialTokens& special = bpe->special_tokens();
  EXPECT_EQ(special.unk, 0);
  EXPECT_EQ(special.bos, 1);
  EXPECT_EQ(special.eos, 2);
  EXPECT_EQ(special.pad, 3);
  EXPECT_EQ(bpe->vocab_size(), 600);
  EXPECT_EQ(bpe->token_to_id("<s>"), 1);
  EXPECT_EQ(bpe->token_to_id("<unk>"), 0);
  EXPECT_TRUE(bpe->token_to_id("<sep>").has_value());  // a user-defined symbol
  EXPECT_EQ(bpe->token_to_id("no such piece"), std::nullopt);
  fs::remove_all(dir);

  const fs::path unigram_dir = model_folder("unigram");
  EXPECT_EQ(arrakis::load_tokenizer(unigram_dir)->special_tokens().pad, std::nullopt);  // trained with pad_id -1
  fs::remove_all(unigram_dir);
}

TEST(TokenizerSentencePiece, ControlAndUnknownPiecesAreSpecialInDecode) {
  ARRAKIS_REQUIRE_SENTENCEPIECE();
  const fs::path dir = model_folder("unigram");
  const auto tokenizer = arrakis::load_tokenizer(dir);
  const Ids hello = tokenizer->encode("Hello world");
  Ids ids = {1};
  ids.insert(ids.end(), hello.begin(), hello.end());
  ids.push_back(0);
  ids.push_back(2);
  EXPECT_EQ(tokenizer->decode(ids), "<s>Hello world<unk></s>");
  EXPECT_EQ(tokenizer->decode(ids, /*skip_special=*/true), "Hello world");
  // "<s>" in the text is text, as in SentencePiece.
  const Ids spelled = tokenizer->encode("<s>");
  EXPECT_EQ(std::count(spelled.begin(), spelled.end(), 1), 0);
  // to_tokens puts the model's BOS first.
  const auto batch = arrakis::to_tokens(*tokenizer, std::string_view("Hello world"));
  EXPECT_EQ(batch.input_ids[0][0].item<int64_t>(), 1);
  EXPECT_EQ(batch.input_ids.size(1), static_cast<int64_t>(hello.size() + 1));

  const std::string message = arrakis::test::error_of([&] { tokenizer->decode(Ids{500}); });
  EXPECT_NE(message.find("500"), std::string::npos) << message;
  fs::remove_all(dir);
}

TEST(TokenizerSentencePiece, TokenizerJsonIsPreferredToTokenizerModel) {
  const fs::path dir = model_folder("bpe");
  std::ofstream(dir / "tokenizer.json") << R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}})";
  const auto tokenizer = arrakis::load_tokenizer(dir);
  EXPECT_NE(tokenizer->describe().find("tokenizer.json"), std::string::npos) << tokenizer->describe();
  EXPECT_EQ(tokenizer->encode("ab"), (Ids{0, 1}));
  fs::remove_all(dir);
}

TEST(TokenizerSentencePiece, AFileThatIsNotAModelNamesTheFile) {
  const fs::path dir = arrakis::test::temp_dir("sentencepiece-bad");
  for (const char* content : {"not a protobuf at all", ""}) {
    std::ofstream(dir / "tokenizer.model", std::ios::binary) << content;
    const std::string message = arrakis::test::error_of([&] { arrakis::load_tokenizer(dir); });
    EXPECT_NE(message.find((dir / "tokenizer.model").string()), std::string::npos) << message;
  }
  fs::remove_all(dir);
}
