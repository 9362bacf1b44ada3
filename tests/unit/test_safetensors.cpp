// The safetensors reader and writer: round trips, zero-copy views, and every malformed-header case.
#include <fstream>

#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;

// Writes a safetensors file by hand: a header string and `data_bytes` zero bytes.
void write_raw(const fs::path& path, const std::string& header, std::size_t data_bytes) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header;
  out << std::string(data_bytes, '\0');
}

using test::error_of;

TEST(Safetensors, RoundTripsEveryDtypeWithMetadata) {
  auto dir = test::temp_dir("st-roundtrip");
  NamedTensors tensors = {
      {"f32", torch::randn({3, 4})},
      {"f64", torch::randn({2}, torch::kFloat64)},
      {"f16", torch::randn({5}).to(torch::kFloat16)},
      {"bf16", torch::randn({2, 3}).to(torch::kBFloat16)},
      {"i64", torch::arange(7, torch::kInt64)},
      {"i32", torch::arange(3, torch::kInt32)},
      {"i16", torch::arange(3).to(torch::kInt16)},
      {"i8", torch::arange(-2, 3).to(torch::kInt8)},
      {"u8", torch::arange(4).to(torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5)},
      {"empty", torch::zeros({0, 4})},
      {"transposed", torch::randn({4, 3}).t()},
  };
  save_safetensors(dir / "t.safetensors", tensors, {{"who", "test"}});
  auto file = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_EQ(file->metadata().at("who"), "test");
  EXPECT_EQ(file->names().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    auto back = file->tensor(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
  EXPECT_EQ(file->entry("bf16").dtype, "BF16");
}

TEST(Safetensors, ViewsTheMappedFileWithoutCopyingAndEditsStayInMemory) {
  auto dir = test::temp_dir("st-view");
  save_safetensors(dir / "a.safetensors", {{"x", torch::ones({1024})}});
  auto file = SafetensorsFile::open(dir / "a.safetensors");
  auto a = file->tensor("x");
  auto b = file->tensor("x");
  EXPECT_EQ(a.data_ptr(), b.data_ptr());  // both view the mapping
  a.mul_(2);                              // copy-on-write: memory changes, the file does not
  EXPECT_EQ(b[0].item<float>(), 2.0f);
  EXPECT_EQ(SafetensorsFile::open(dir / "a.safetensors")->tensor("x")[0].item<float>(), 1.0f);
}

TEST(Safetensors, TruncatedFileNamesTheFile) {
  auto dir = test::temp_dir("st-truncated");
  auto path = dir / "truncated.safetensors";
  fs::copy_file(test::source_dir() / "assets/demo-model/model.safetensors", path);
  fs::resize_file(path, fs::file_size(path) - 100);
  auto message = error_of([&] { SafetensorsFile::open(path); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("past the end"), std::string::npos) << message;

  fs::resize_file(path, 5);
  message = error_of([&] { SafetensorsFile::open(path); });
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
}

TEST(Safetensors, RejectsEveryMalformedHeader) {
  auto dir = test::temp_dir("st-malformed");
  auto path = dir / "bad.safetensors";
  auto expect_error = [&](const std::string& header, std::size_t data, const std::string& needle) {
    write_raw(path, header, data);
    auto message = error_of([&] { SafetensorsFile::open(path); });
    EXPECT_NE(message.find(needle), std::string::npos) << "header " << header << " gave: " << message;
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  };
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)", 8, "not valid JSON");
  expect_error(R"([1,2])", 0, "not a JSON object");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],)"
               R"("data_offsets":[4,12]}})",
               12, "overlap");
  expect_error(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8, "past the end");
  expect_error(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "span 8 bytes");
  expect_error(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8, "dtype 'Q4'");
  expect_error(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "shape");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "end before");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, "belong to no tensor");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12, "cover only");
  expect_error(R"({"a":{"dtype":"F32","shape":[2]}})", 8, "data_offsets");

  // A header length larger than the file.
  {
    std::ofstream out(path, std::ios::binary);
    uint64_t n = 1000;
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out << "{}";
  }
  auto message = error_of([&] { SafetensorsFile::open(path); });
  EXPECT_NE(message.find("header length is 1000"), std::string::npos) << message;
}

TEST(Safetensors, WriterRejectsDuplicateNamesAndKeepsTheOldFile) {
  auto dir = test::temp_dir("st-writer");
  auto path = dir / "out.safetensors";
  save_safetensors(path, {{"kept", torch::ones({2})}});
  auto message = error_of([&] { save_safetensors(path, {{"a", torch::ones({1})}, {"a", torch::ones({1})}}); });
  EXPECT_NE(message.find("'a' appears twice"), std::string::npos) << message;
  EXPECT_TRUE(SafetensorsFile::open(path)->contains("kept"));  // nothing already recorded is lost
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);  // no temporary left
}

TEST(Safetensors, MissingTensorNamesTensorAndFile) {
  auto dir = test::temp_dir("st-missing");
  save_safetensors(dir / "m.safetensors", {{"present", torch::ones({1})}});
  auto file = SafetensorsFile::open(dir / "m.safetensors");
  auto message = error_of([&] { file->tensor("absent"); });
  EXPECT_NE(message.find("'absent'"), std::string::npos) << message;
  EXPECT_NE(message.find("m.safetensors"), std::string::npos) << message;
}

}  // namespace
}  // namespace arrakis
