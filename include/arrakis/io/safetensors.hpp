#pragma once
// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the tensors' bytes.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace arrakis {

/// One tensor's entry in a safetensors header.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // as the file spells it: "F32", "BF16", "I64", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
};

/// A safetensors file, memory-mapped and validated on open. Tensors view the mapping (no copy) when their bytes are
/// aligned for their dtype; the mapping is copy-on-write, so editing a tensor in place never touches the file.
class SafetensorsFile {
 public:
  /// Maps and validates `path`: header length, JSON, dtypes, shape x dtype size = byte range, every range inside
  /// the file, no overlaps and no holes. Throws arrakis::Error naming the file (and the tensor) at fault.
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  /// The same over bytes already in memory (copied once, so tensors can be edited in place); `source` names them in
  /// messages.
  static std::shared_ptr<SafetensorsFile> from_bytes(std::span<const std::byte> bytes, const std::string& source);

  /// The file (or the `source` given to from_bytes).
  const std::filesystem::path& path() const { return source_; }
  /// Tensor names in the order of their data in the file.
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  const SafetensorsEntry& entry(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  /// The tensor, viewing the file's bytes. Throws arrakis::Error naming the tensor and the file when it is absent
  /// or its dtype has no LibTorch equivalent.
  torch::Tensor tensor(const std::string& name) const;

 private:
  void parse();
  std::filesystem::path source_;
  std::shared_ptr<void> owner_;  // keeps the bytes alive (a MappedFile, or a heap copy)
  std::byte* bytes_ = nullptr;
  std::size_t size_ = 0;
  std::size_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;  // sorted by begin
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// Writes tensors (any device, any layout; written contiguous, on the CPU) in the given order, with optional string
/// metadata. Writes to a temporary file beside `path` and renames it, so a failure never leaves a half-written file
/// in place of an earlier one. Throws arrakis::Error naming the tensor when a name repeats or a dtype is unsupported.
void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Every tensor of a file, in file order (views of the mapped file).
NamedTensors load_safetensors(const std::filesystem::path& path);

/// The safetensors spelling of a LibTorch dtype ("F32", ...) and back; arrakis::Error for dtypes the format or
/// LibTorch lacks.
std::string safetensors_dtype_name(torch::Dtype dtype);
torch::Dtype safetensors_dtype(const std::string& name);

}  // namespace arrakis
