// A pytorch_model.bin that torch.save wrote (tests/data/torch_checkpoints/gpt2: ../shared's GPT-2 fixture) gives
// Hugging Face's logits. Sharding, dtypes, padding and loading errors: unit/test_model_loading.cpp.
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;

fs::path gpt2_dir() { return test::shared_dir() / "fixtures/hf/gpt2"; }
torch::Tensor expected(const std::string& name) {
  return SafetensorsFile::open(gpt2_dir() / "expected.safetensors")->tensor(name);
}

TEST(Loading, PytorchModelBinWrittenByTorchSave) {
  ARRAKIS_REQUIRE_SHARED();
  auto dir = test::source_dir() / "tests/data/torch_checkpoints/gpt2";
  ASSERT_TRUE(fs::exists(dir / "pytorch_model.bin"));
  auto model = load_pretrained(dir);
  EXPECT_LT(test::max_abs_diff(model(expected("input_ids")), expected("logits")), 1e-4);
}

}  // namespace
}  // namespace arrakis
