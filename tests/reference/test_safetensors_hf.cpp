// safetensors written by Hugging Face (../shared's GPT-2 fixture) read as they were written.
#include <fstream>

#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;

TEST(Safetensors, ReadsHuggingFaceWrittenFiles) {
  ARRAKIS_REQUIRE_SHARED();
  auto file = SafetensorsFile::open(test::shared_dir() / "fixtures/hf/gpt2/model.safetensors");
  EXPECT_EQ(file->tensor("transformer.wte.weight").sizes(), (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(file->metadata().at("format"), "pt");
  auto expected = SafetensorsFile::open(test::shared_dir() / "fixtures/hf/gpt2/expected.safetensors");
  EXPECT_EQ(expected->tensor("input_ids").scalar_type(), torch::kInt64);
}

}  // namespace
}  // namespace arrakis
