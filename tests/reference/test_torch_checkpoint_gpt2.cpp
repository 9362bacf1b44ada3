// A pytorch_model.bin that torch.save wrote (tests/data) holds the same tensors as ../shared's GPT-2 fixture.
#include "arrakis/io/torch_checkpoint.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "arrakis/error.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using arrakis::TorchCheckpointFile;

fs::path fixtures() { return arrakis::test::source_dir() / "tests/data/torch_checkpoints"; }

using arrakis::test::read_bytes;

// Just enough of safetensors to compare against (F32 only, in header order); the project's own reader is tested
// on its own.
std::vector<std::pair<std::string, torch::Tensor>> read_f32_safetensors(const fs::path& path) {
  const std::string bytes = read_bytes(path);
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);  // little-endian, as is this machine
  const auto header = nlohmann::ordered_json::parse(bytes.substr(8, header_length));
  const char* data = bytes.data() + 8 + header_length;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    EXPECT_EQ(info["dtype"], "F32") << name;
    const auto begin = info["data_offsets"][0].get<std::size_t>();
    const auto shape = info["shape"].get<std::vector<int64_t>>();
    tensors.emplace_back(name, torch::from_blob(const_cast<char*>(data + begin), shape, torch::kFloat32).clone());
  }
  return tensors;
}

TEST(TorchCheckpoint, Gpt2MatchesItsSafetensors) {
  ARRAKIS_REQUIRE_SHARED();
  const auto reference = read_f32_safetensors(arrakis::test::shared_dir() / "fixtures/hf/gpt2/model.safetensors");
  const fs::path path = fixtures() / "gpt2/pytorch_model.bin";
  auto checkpoint = TorchCheckpointFile::open(path);
  EXPECT_EQ(checkpoint->path(), path);
  std::vector<std::string> names;
  for (const auto& [name, tensor] : reference) names.push_back(name);
  ASSERT_EQ(checkpoint->names(), names);  // `_metadata` (set by BUILD) is not a tensor
  std::vector<torch::Tensor> kept;
  for (const auto& [name, want] : reference) {
    const auto tensor = checkpoint->tensor(name);
    EXPECT_EQ(tensor.scalar_type(), torch::kFloat32) << name;
    EXPECT_TRUE(tensor.is_contiguous()) << name;
    EXPECT_TRUE(torch::equal(tensor, want)) << name;
    EXPECT_TRUE(arrakis::test::is_mapped_from(tensor.data_ptr(), path)) << name << " is a copy, not a view of the file";
    kept.push_back(tensor);
  }
  // The tensors keep the mapping alive after the checkpoint is gone.
  checkpoint.reset();
  for (std::size_t i = 0; i < kept.size(); ++i) EXPECT_TRUE(torch::equal(kept[i], reference[i].second));
}

}  // namespace
