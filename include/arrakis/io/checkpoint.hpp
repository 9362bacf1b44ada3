#pragma once
// A model checkpoint's tensors by name, whatever the format on disk: one safetensors file, shards listed by
// model.safetensors.index.json, pytorch_model.bin, or shards listed by pytorch_model.bin.index.json.
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace arrakis {

class SafetensorsFile;

class Checkpoint {
 public:
  /// Opens the checkpoint in a folder (preferring safetensors, sharded or not, over pytorch_model.bin) or a single
  /// checkpoint file. Tensors are read on demand; files are mapped, not copied. Throws arrakis::Error naming the folder
  /// and the file names it looked for when it finds none.
  static std::unique_ptr<Checkpoint> open(const std::filesystem::path& dir_or_file);
  /// A checkpoint over one already-opened safetensors file (e.g. one held in memory).
  static std::unique_ptr<Checkpoint> from_safetensors(std::shared_ptr<SafetensorsFile> file);

  virtual ~Checkpoint() = default;
  /// Where the tensors come from, for messages (e.g. "DIR/model.safetensors").
  virtual std::string describe() const = 0;
  virtual std::vector<std::string> names() const = 0;
  virtual bool contains(const std::string& name) const = 0;
  /// The tensor; arrakis::Error naming the tensor, the checkpoint and the closest names when it is absent.
  virtual torch::Tensor get(const std::string& name) const = 0;
};

/// True when `dir` holds checkpoint weights in any supported format.
bool has_checkpoint(const std::filesystem::path& dir);

}  // namespace arrakis
