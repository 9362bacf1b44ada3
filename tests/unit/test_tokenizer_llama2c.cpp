// llama2.c's tokenizer.bin format on a small vocabulary written by the test (llama2c_files.hpp): finding the file in a
// folder, and the errors of files that do not parse. The stories260K tokenizer against run.c:
// reference/test_tokenizer_llama2c.cpp.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "arrakis/tokenizer/tokenizer.hpp"
#include "test_support.hpp"
#include "unit/llama2c_files.hpp"

namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int64_t>;

// A llama2.c tokenizer and a llama2.c model checkpoint, written once per process.
struct Files {
  fs::path dir = arrakis::test::temp_dir("llama2c-files");
  fs::path tok = dir / "tok512.bin";
  fs::path model = dir / "stories260K.bin";
  Files() {
    arrakis::test::write_small_llama2c_tokenizer(tok);
    arrakis::test::write_llama2c_checkpoint(model);
  }
};
const Files& files() {
  static const Files written;
  return written;
}

// "Once upon a time" in the small tokenizer's vocabulary (llama2c_files.hpp).
const Ids kOnceUponATime = {274, 278, 279, 283};

fs::path folder_with(const std::string& name, const std::map<std::string, fs::path>& contents) {
  const fs::path dir = arrakis::test::temp_dir(name);
  for (const auto& [file_name, source] : contents) fs::copy_file(source, dir / file_name);
  return dir;
}

}  // namespace

TEST(TokenizerLlama2c, FoundInAFolderByNameAndContent) {
  const fs::path model = files().model;
  const fs::path tok = files().tok;

  // tokenizer.bin, or a tok*.bin that parses; the model's own .bin never passes for a tokenizer.
  for (const std::string name : {"tokenizer.bin", "tok512.bin"}) {
    const fs::path dir =
        folder_with("llama2c-" + name, {{name, tok}, {"stories260K.bin", model}, {"tok_model.bin", model}});
    EXPECT_EQ(arrakis::load_tokenizer(dir)->encode("Once upon a time"), kOnceUponATime) << name;
    fs::remove_all(dir);
  }
  const fs::path only_model =
      folder_with("llama2c-model-only", {{"tok_model.bin", model}, {"pytorch_model.bin", model}});
  EXPECT_EQ(arrakis::try_load_tokenizer(only_model), nullptr);
  const std::string none = arrakis::test::error_of([&] { arrakis::load_tokenizer(only_model); });
  EXPECT_NE(none.find("tok*.bin"), std::string::npos) << none;
  fs::remove_all(only_model);

  // Two candidates: named, not guessed between.
  const fs::path two = folder_with("llama2c-two", {{"tok512.bin", tok}, {"tok_other.bin", tok}});
  const std::string message = arrakis::test::error_of([&] { arrakis::load_tokenizer(two); });
  EXPECT_NE(message.find("tok512.bin"), std::string::npos) << message;
  EXPECT_NE(message.find("tok_other.bin"), std::string::npos) << message;
  fs::remove_all(two);
}

TEST(TokenizerLlama2c, AFileThatDoesNotParseSaysWhy) {
  const fs::path dir = folder_with("llama2c-bad", {{"tokenizer.bin", files().tok}});
  const fs::path file = dir / "tokenizer.bin";
  const auto expect_error = [&](const std::string& what) {
    const std::string message = arrakis::test::error_of([&] { arrakis::load_tokenizer(dir); });
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
  };
  fs::resize_file(file, fs::file_size(file) - 3);
  expect_error("ends inside");
  fs::copy_file(files().model, file, fs::copy_options::overwrite_existing);
  expect_error("not a llama2.c tokenizer");
  std::ofstream(file, std::ios::binary) << "ab";
  expect_error("header");
  fs::remove_all(dir);
}
