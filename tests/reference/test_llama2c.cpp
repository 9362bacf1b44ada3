// llama2.c's own files (../shared/models/stories260K) against the same weights in Hugging Face layout. Detecting the
// format and its errors: unit/test_llama2c.cpp.
#include <fstream>

#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/llama2c_format.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;

TEST(Llama2c, CheckpointGivesTheLogitsOfItsHuggingFaceConversion) {
  ARRAKIS_REQUIRE_SHARED();
  auto llama2c = load_pretrained(test::shared_dir() / "models/stories260K");
  auto hf = load_pretrained(test::shared_dir() / "fixtures/hf/stories260K");
  EXPECT_EQ(llama2c.config().n_layers, 5);
  EXPECT_EQ(llama2c.config().kv_heads(), 4);
  EXPECT_TRUE(llama2c.config().tie_word_embeddings);
  auto expected = SafetensorsFile::open(test::shared_dir() / "fixtures/hf/stories260K/expected.safetensors");
  auto ids = expected->tensor("input_ids");
  EXPECT_LT(test::max_abs_diff(llama2c(ids), hf(ids)), 1e-4);
  EXPECT_LT(test::max_abs_diff(llama2c(ids), expected->tensor("logits")), 1e-4);
}

}  // namespace
}  // namespace arrakis
