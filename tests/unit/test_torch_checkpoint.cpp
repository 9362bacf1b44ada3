// TorchCheckpointFile against genuine torch.save files (tests/data/make_torch_checkpoints.py writes them with Debian's
// torch 1.13, and expected.json with what Python torch read back).
#include "arrakis/io/torch_checkpoint.hpp"

#include <caffe2/serialize/inline_container.h>

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
using json = nlohmann::json;
using namespace std::string_literals;

fs::path fixtures() { return arrakis::test::source_dir() / "tests/data/torch_checkpoints"; }

using arrakis::test::read_bytes;

const json& expected() {
  static const json parsed = json::parse(read_bytes(fixtures() / "expected.json"));
  return parsed;
}

torch::Dtype dtype_named(const std::string& name) {
  static const std::map<std::string, torch::Dtype> dtypes = {
      {"float32", torch::kFloat32}, {"float64", torch::kFloat64}, {"bfloat16", torch::kBFloat16},
      {"float16", torch::kFloat16}, {"int64", torch::kInt64},     {"int32", torch::kInt32},
      {"int16", torch::kInt16},     {"int8", torch::kInt8},       {"uint8", torch::kUInt8},
      {"bool", torch::kBool}};
  return dtypes.at(name);
}

// dtype, shape, strides, storage offset and every value, as Python torch saw them.
void expect_as_saved(const torch::Tensor& tensor, const json& want, const std::string& name) {
  SCOPED_TRACE("tensor " + name);
  EXPECT_EQ(tensor.scalar_type(), dtype_named(want["dtype"]));
  EXPECT_EQ(tensor.sizes().vec(), want["shape"].get<std::vector<int64_t>>());
  EXPECT_EQ(tensor.strides().vec(), want["stride"].get<std::vector<int64_t>>());
  EXPECT_EQ(tensor.storage_offset(), want["storage_offset"].get<int64_t>());
  const auto& values = want["values"];
  ASSERT_EQ(tensor.numel(), static_cast<int64_t>(values.size()));
  if (tensor.is_floating_point()) {
    const auto flat = tensor.to(torch::kFloat64).contiguous().reshape(-1);
    for (int64_t i = 0; i < flat.numel(); ++i) EXPECT_EQ(flat[i].item<double>(), values[i].get<double>()) << i;
  } else {
    const auto flat = tensor.to(torch::kInt64).contiguous().reshape(-1);
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const int64_t want_value = values[i].is_boolean() ? values[i].get<bool>() : values[i].get<int64_t>();
      EXPECT_EQ(flat[i].item<int64_t>(), want_value) << i;
    }
  }
}

void expect_file_as_saved(const std::string& file_name) {
  SCOPED_TRACE(file_name);
  const auto& want = expected().at(file_name);
  const auto checkpoint = TorchCheckpointFile::open(fixtures() / file_name);
  EXPECT_EQ(checkpoint->names(), want["names"].get<std::vector<std::string>>());
  for (const auto& name : checkpoint->names()) {
    EXPECT_TRUE(checkpoint->contains(name));
    expect_as_saved(checkpoint->tensor(name), want["tensors"][name], name);
  }
}

// A torch.save-style archive around a hand-written pickle, written by LibTorch's own writer (as torch.save's is).
fs::path write_archive(const fs::path& path, const std::string& pickle) {
  caffe2::serialize::PyTorchStreamWriter writer(path.string());
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
  return path;
}

std::string error_opening(const fs::path& path) {
  try {
    TorchCheckpointFile::open(path);
  } catch (const arrakis::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TorchCheckpoint, OneEntryDictUsesSetitem) { expect_file_as_saved("one_entry.bin"); }

TEST(TorchCheckpoint, EveryDtypeViewsAndEdgeShapes) {
  expect_file_as_saved("dtypes.bin");
  const auto path = fixtures() / "dtypes.bin";
  const auto checkpoint = TorchCheckpointFile::open(path);
  for (const auto& name : checkpoint->names()) {
    const auto tensor = checkpoint->tensor(name);
    if (tensor.numel() > 0) {
      EXPECT_TRUE(arrakis::test::is_mapped_from(tensor.data_ptr(), path)) << name;
    }
  }
  EXPECT_FALSE(checkpoint->contains("step"));  // an int in the state dict is skipped
  EXPECT_FALSE(checkpoint->tensor("param").requires_grad());
  EXPECT_FALSE(checkpoint->tensor("transposed").is_contiguous());
  EXPECT_EQ(checkpoint->tensor("scalar").dim(), 0);
  EXPECT_EQ(checkpoint->tensor("empty").numel(), 0);
}

TEST(TorchCheckpoint, DeflatedRecordsAreReadInstead) {
  expect_file_as_saved("compressed.bin");
  const auto path = fixtures() / "compressed.bin";
  const auto checkpoint = TorchCheckpointFile::open(path);
  EXPECT_FALSE(arrakis::test::is_mapped_from(checkpoint->tensor("f32").data_ptr(), path));
}

TEST(TorchCheckpoint, NestedStateDictIsUnwrapped) { expect_file_as_saved("nested.bin"); }

TEST(TorchCheckpoint, TensorsOfOneStorageShareIt) {
  for (const char* file_name : {"dtypes.bin", "compressed.bin"}) {
    SCOPED_TRACE(file_name);
    const auto checkpoint = TorchCheckpointFile::open(fixtures() / file_name);
    for (const auto& pair : expected().at("dtypes.bin")["shared_storage"]) {
      const auto a = checkpoint->tensor(pair[0]);
      const auto b = checkpoint->tensor(pair[1]);
      EXPECT_TRUE(a.is_alias_of(b)) << pair.dump();
    }
    EXPECT_FALSE(checkpoint->tensor("f32").is_alias_of(checkpoint->tensor("f64")));
    // A write through one view shows in the other, as in the saved model.
    auto base = checkpoint->tensor("base");
    base[0][1] = 42.0f;
    EXPECT_EQ(checkpoint->tensor("transposed")[1][0].item<float>(), 42.0f);
  }
}

TEST(TorchCheckpoint, InPlaceEditsNeverReachTheFile) {
  const auto dir = arrakis::test::temp_dir("torch-checkpoint-cow");
  const auto copy = dir / "pytorch_model.bin";
  fs::copy_file(fixtures() / "one_entry.bin", copy);
  const std::string before = read_bytes(copy);
  {
    auto tensor = TorchCheckpointFile::open(copy)->tensor("only.weight");
    ASSERT_TRUE(arrakis::test::is_mapped_from(tensor.data_ptr(), copy));
    tensor.add_(100.0f);
    EXPECT_EQ(tensor[0][0].item<float>(), 100.0f);
  }
  EXPECT_EQ(read_bytes(copy), before);
  expect_as_saved(TorchCheckpointFile::open(copy)->tensor("only.weight"),
                  expected()["one_entry.bin"]["tensors"]["only.weight"], "only.weight");
  fs::remove_all(dir);
}

TEST(TorchCheckpoint, ForbiddenGlobalIsRefusedByName) {
  const auto path = fixtures() / "forbidden_global.bin";
  const auto message = error_opening(path);
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("'os.system' is not allowed"), std::string::npos) << message;
}

TEST(TorchCheckpoint, UnknownOpcodeIsRefusedByName) {
  const auto path = fixtures() / "bad_opcode.bin";
  const auto message = error_opening(path);
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("opcode 0x69 ('i')"), std::string::npos) << message;
}

TEST(TorchCheckpoint, HostilePicklesFailCleanly) {
  const auto dir = arrakis::test::temp_dir("torch-checkpoint-hostile");
  // {"k": [[[...]]]} 200000 lists deep (a recursive free would overflow an 8 MB stack; deeper nesting exceeds the
  // reader's memory budget): freed without recursion, and not a tensor, so skipped.
  const auto deep = "\x80\x02}X\x01\x00\x00\x00k"s + std::string(200'000, ']') + std::string(199'999, 'a') + "s."s;
  EXPECT_TRUE(TorchCheckpointFile::open(write_archive(dir / "deep.bin", deep))->names().empty());
  // {"k": l} where l holds itself.
  const auto cycle =
      "\x80\x02}X\x01\x00\x00\x00k]q\x01h\x01"
      "as."s;
  EXPECT_TRUE(TorchCheckpointFile::open(write_archive(dir / "cycle.bin", cycle))->names().empty());
  const std::pair<std::string, std::string> broken[] = {
      {"\x80\x02s."s, "stack underflow"},
      {"\x80\x02h\x05."s, "memo entry 5 is read before it is written"},
      {"\x80\x02X\xff\x00\x00\x00ab"s, "runs past the end of the pickle"},
      {"\x80\x02}"s, "ends without STOP"},
      {"\x80\x02]."s, "holds a list, not a state dict"},
      {"\x80\x02}X\x01\x00\x00\x00kctorch\nFloatStorage\n)Rs."s, "torch.FloatStorage is called"},
  };
  for (std::size_t i = 0; i < std::size(broken); ++i) {
    const auto path = write_archive(dir / ("broken" + std::to_string(i) + ".bin"), broken[i].first);
    const auto message = error_opening(path);
    EXPECT_NE(message.find(path.string() + ": data.pkl"), std::string::npos) << message;
    EXPECT_NE(message.find(broken[i].second), std::string::npos) << message;
  }
  fs::remove_all(dir);
}

TEST(TorchCheckpoint, MissingStorageRecordNamesTheTensor) {
  const auto path = fixtures() / "missing_storage.bin";
  const auto message = error_opening(path);
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("tensor 'only.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("'data/0' is missing"), std::string::npos) << message;
}

TEST(TorchCheckpoint, ShortStorageRecordNamesTheTensor) {
  const auto path = fixtures() / "short_storage.bin";
  const auto message = error_opening(path);
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("tensor 'only.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("holds 8 bytes"), std::string::npos) << message;
}

TEST(TorchCheckpoint, TruncatedOrAbsentFileNamesTheFile) {
  for (const auto& path :
       {fixtures() / "truncated.bin", fixtures() / "no_such_file.bin", fixtures() / "expected.json"}) {
    const auto message = error_opening(path);
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  }
}

TEST(TorchCheckpoint, AbsentTensorNamesTensorAndFile) {
  const auto path = fixtures() / "one_entry.bin";
  const auto checkpoint = TorchCheckpointFile::open(path);
  EXPECT_FALSE(checkpoint->contains("nope"));
  try {
    checkpoint->tensor("nope");
    FAIL() << "no error";
  } catch (const arrakis::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos) << e.what();
  }
}

}  // namespace
