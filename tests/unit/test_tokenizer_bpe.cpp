// Tokenizer files on small vocabularies written by the tests: the BPE model's options (the expectations of Hugging
// Face tokenizers' models/bpe tests), and the errors of malformed files and folders, which name what is at fault.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arrakis/error.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<int64_t>;
using arrakis::test::write_file;

// A small vocabulary for the error-path tests: parsing GPT-2's megabyte each time would only slow them down.
const char* kSmallVocab = R"({"a": 0, "b": 1, "ab": 2, "Ġ": 3})";
const char* kSmallMerges = "#version: 0.2\na b\n";

}  // namespace

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

TEST(Tokenizer, WordLevelWithoutItsUnknownTokenEncodesKnownWordsAndNamesAnUnknownOne) {
  // Hugging Face's default unknown token is "<unk>"; absent from the vocabulary, only unknown words fail.
  const json model = {{"type", "WordLevel"}, {"vocab", {{"Mary", 0}, {"John", 1}}}};
  const fs::path dir = write_small_tokenizer_json("tokenizer-word-level", model);
  const auto tokenizer = arrakis::load_tokenizer(dir);
  EXPECT_EQ(tokenizer->encode("John"), (Ids{1}));
  EXPECT_EQ(tokenizer->decode(Ids{0, 1}), "Mary John");  // no decoder: tokens joined by spaces
  try {
    tokenizer->encode("Alice");
    ADD_FAILURE() << "an unknown word encoded";
  } catch (const arrakis::Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"Alice\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("<unk>"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// ---- errors name what is at fault ------------------------------------------------------------------------------

TEST(Tokenizer, MalformedFilesNameTheFile) {
  const fs::path dir = arrakis::test::temp_dir("tokenizer-malformed");
  const auto expect_error_naming = [&](const fs::path& file, const std::string& also = {}) {
    const std::string message = arrakis::test::arrakis_error_of([&] { arrakis::load_tokenizer(dir); });
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
    const std::string message = arrakis::test::arrakis_error_of([&] { arrakis::load_tokenizer(dir); });
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
  const std::string message = arrakis::test::arrakis_error_of([&] { arrakis::load_tokenizer(dir); });
  EXPECT_NE(message.find(dir.string()), std::string::npos) << message;
  EXPECT_NE(message.find("tokenizer.json"), std::string::npos) << message;
  EXPECT_NE(message.find("vocab.bpe"), std::string::npos) << message;

  write_file(dir / "vocab.json", kSmallVocab);  // without its merges.txt
  const std::string partial = arrakis::test::arrakis_error_of([&] { arrakis::try_load_tokenizer(dir); });
  EXPECT_NE(partial.find("merges.txt"), std::string::npos) << partial;
  EXPECT_NE(arrakis::test::arrakis_error_of([&] { arrakis::load_tokenizer(dir / "missing"); }).find("missing"),
            std::string::npos);
  EXPECT_EQ(arrakis::try_load_tokenizer(dir / "missing"), nullptr);
  fs::remove_all(dir);
}
