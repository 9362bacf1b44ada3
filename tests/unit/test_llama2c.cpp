// llama2.c's checkpoint format on a file written by the test (llama2c_files.hpp): detected by its header and size, a
// truncated file a clear error. stories260K against its Hugging Face conversion: reference/test_llama2c.cpp.
#include <fstream>

#include "arrakis/model/llama2c_format.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"
#include "unit/llama2c_files.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;

TEST(Llama2c, FileIsDetectedByItsHeaderAndSize) {
  const auto dir = test::temp_dir("llama2c-files");
  test::write_llama2c_checkpoint(dir / "stories260K.bin");
  test::write_small_llama2c_tokenizer(dir / "tok512.bin");
  EXPECT_TRUE(is_llama2c_checkpoint(dir / "stories260K.bin"));
  EXPECT_FALSE(is_llama2c_checkpoint(dir / "tok512.bin"));
  EXPECT_NO_THROW(load_pretrained(dir / "stories260K.bin"));

  auto truncated = test::temp_dir("llama2c") / "model.bin";
  fs::copy_file(dir / "stories260K.bin", truncated);
  fs::resize_file(truncated, fs::file_size(truncated) - 64);
  EXPECT_FALSE(is_llama2c_checkpoint(truncated));
  auto message = test::error_of([&] { load_llama2c(truncated, torch::kFloat32, torch::kCPU); });
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find(truncated.string()), std::string::npos) << message;
}

}  // namespace
}  // namespace arrakis
