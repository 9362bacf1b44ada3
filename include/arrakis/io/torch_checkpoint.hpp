#pragma once
// Reads `pytorch_model.bin`: the zip archive `torch.save` writes (archive/data.pkl + archive/data/<key>),
// holding a state dict (a dict or OrderedDict of tensor name -> tensor).
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace arrakis {

class TorchCheckpointFile {
 public:
  /// Opens and validates the archive and reads its pickle; tensor data is read on demand.
  /// Throws arrakis::Error naming the file and what is wrong (not a zip, no data.pkl, unsupported pickle opcode or
  /// global, missing storage record, storage too small for a tensor, ...).
  static std::shared_ptr<TorchCheckpointFile> open(const std::filesystem::path& path);

  virtual ~TorchCheckpointFile() = default;
  virtual const std::filesystem::path& path() const = 0;
  /// Tensor names in the order the state dict holds them.
  virtual std::vector<std::string> names() const = 0;
  virtual bool contains(const std::string& name) const = 0;
  /// The tensor with its saved dtype, shape, strides and storage offset (tensors sharing a storage in the file share
  /// it in memory too). Throws arrakis::Error naming the tensor and the file when it is absent.
  virtual torch::Tensor tensor(const std::string& name) const = 0;
};

}  // namespace arrakis
