#include "arrakis/io/checkpoint.hpp"

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/io/torch_checkpoint.hpp"
#include "arrakis/util/closest_names.hpp"
#include "util/json_text.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSafetensors = "model.safetensors";
constexpr const char* kSafetensorsIndex = "model.safetensors.index.json";
constexpr const char* kTorchBin = "pytorch_model.bin";
constexpr const char* kTorchBinIndex = "pytorch_model.bin.index.json";

// One file of tensors, safetensors or torch.save'd; opened once, then read by name.
class TensorFile {
 public:
  explicit TensorFile(std::shared_ptr<SafetensorsFile> file = nullptr) : safetensors_(std::move(file)) {}
  static std::shared_ptr<TensorFile> open(const fs::path& path) {
    auto file = std::make_shared<TensorFile>();
    if (path.extension() == ".safetensors")
      file->safetensors_ = SafetensorsFile::open(path);
    else
      file->torch_ = TorchCheckpointFile::open(path);
    return file;
  }
  std::vector<std::string> names() const { return safetensors_ ? safetensors_->names() : torch_->names(); }
  bool contains(const std::string& n) const { return safetensors_ ? safetensors_->contains(n) : torch_->contains(n); }
  torch::Tensor tensor(const std::string& n) const {
    return safetensors_ ? safetensors_->tensor(n) : torch_->tensor(n);
  }

 private:
  std::shared_ptr<SafetensorsFile> safetensors_;
  std::shared_ptr<TorchCheckpointFile> torch_;
};

[[noreturn]] void throw_missing(const Checkpoint& ckpt, const std::string& name) {
  throw Error(fmt::format("checkpoint {} has no tensor '{}' (closest: {})", ckpt.describe(), name,
                          quoted_list(closest_names(name, ckpt.names(), 3))));
}

class SingleFileCheckpoint final : public Checkpoint {
 public:
  explicit SingleFileCheckpoint(const fs::path& path) : path_(path), file_(TensorFile::open(path)) {}
  SingleFileCheckpoint(const fs::path& path, std::shared_ptr<TensorFile> file) : path_(path), file_(std::move(file)) {}
  std::string describe() const override { return path_.string(); }
  std::vector<std::string> names() const override { return file_->names(); }
  bool contains(const std::string& name) const override { return file_->contains(name); }
  torch::Tensor get(const std::string& name) const override {
    if (!file_->contains(name)) throw_missing(*this, name);
    return file_->tensor(name);
  }

 private:
  fs::path path_;
  std::shared_ptr<TensorFile> file_;
};

// Shards listed by a Hugging Face index file: {"weight_map": {tensor name: shard file name}}. Shards open on first use.
class ShardedCheckpoint final : public Checkpoint {
 public:
  explicit ShardedCheckpoint(const fs::path& index_path) : index_path_(index_path) {
    nlohmann::json index = read_json_file(index_path);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      throw Error(fmt::format("{}: no 'weight_map' object", index_path.string()));
    for (const auto& [name, shard] : index["weight_map"].items()) {
      if (!shard.is_string()) throw Error(fmt::format("{}: shard of '{}' is not a string", index_path.string(), name));
      auto shard_name = shard.get<std::string>();
      if (shard_name.empty() || shard_name.find('/') != std::string::npos || shard_name == "." || shard_name == "..")
        throw Error(fmt::format("{}: shard '{}' of '{}' is not a file name in the same folder", index_path.string(),
                                shard_name, name));
      auto shard_path = index_path.parent_path() / shard_name;
      // The name comes from the file: a name the file system refuses (too long, say) is the file's error, not ours.
      std::error_code ec;
      const bool regular = fs::is_regular_file(shard_path, ec);
      if (ec && ec != std::errc::no_such_file_or_directory)
        throw Error(fmt::format("{}: shard '{}' of '{}' cannot be opened: {}", index_path.string(), shard_name, name,
                                ec.message()));
      if (!regular)
        throw Error(
            fmt::format("{}: shard {} (holding '{}') does not exist", index_path.string(), shard_path.string(), name));
      weight_map_[name] = shard_path;
      order_.push_back(name);
    }
  }
  std::string describe() const override { return index_path_.string(); }
  std::vector<std::string> names() const override { return order_; }
  bool contains(const std::string& name) const override { return weight_map_.count(name) > 0; }
  torch::Tensor get(const std::string& name) const override {
    auto it = weight_map_.find(name);
    if (it == weight_map_.end()) throw_missing(*this, name);
    auto& shard = shards_[it->second];
    if (!shard) shard = TensorFile::open(it->second);
    if (!shard->contains(name))
      throw Error(fmt::format("{} lists tensor '{}' in {}, but that shard does not hold it", index_path_.string(), name,
                              it->second.string()));
    return shard->tensor(name);
  }

 private:
  fs::path index_path_;
  std::map<std::string, fs::path> weight_map_;
  std::vector<std::string> order_;
  mutable std::map<fs::path, std::shared_ptr<TensorFile>> shards_;
};

}  // namespace

std::unique_ptr<Checkpoint> Checkpoint::open(const fs::path& dir_or_file) {
  if (fs::is_regular_file(dir_or_file)) {
    if (dir_or_file.string().ends_with(".index.json")) return std::make_unique<ShardedCheckpoint>(dir_or_file);
    return std::make_unique<SingleFileCheckpoint>(dir_or_file);
  }
  if (!fs::is_directory(dir_or_file)) throw Error(fmt::format("checkpoint {} does not exist", dir_or_file.string()));
  const auto& dir = dir_or_file;
  // Whatever bears a checkpoint's name is taken as the checkpoint, so that a FIFO or a folder by that name is
  // reported as such by its reader rather than as a missing file.
  if (fs::exists(dir / kSafetensorsIndex)) return std::make_unique<ShardedCheckpoint>(dir / kSafetensorsIndex);
  if (fs::exists(dir / kSafetensors)) return std::make_unique<SingleFileCheckpoint>(dir / kSafetensors);
  if (fs::exists(dir / kTorchBinIndex)) return std::make_unique<ShardedCheckpoint>(dir / kTorchBinIndex);
  if (fs::exists(dir / kTorchBin)) return std::make_unique<SingleFileCheckpoint>(dir / kTorchBin);
  throw Error(fmt::format("{} holds no checkpoint (looked for {}, {}, {}, {})", dir.string(), kSafetensorsIndex,
                          kSafetensors, kTorchBinIndex, kTorchBin));
}

std::unique_ptr<Checkpoint> Checkpoint::from_safetensors(std::shared_ptr<SafetensorsFile> file) {
  auto path = file->path();
  return std::make_unique<SingleFileCheckpoint>(path, std::make_shared<TensorFile>(std::move(file)));
}

bool has_checkpoint(const fs::path& dir) {
  for (const char* name : {kSafetensorsIndex, kSafetensors, kTorchBinIndex, kTorchBin})
    if (fs::exists(dir / name)) return true;
  return false;
}

}  // namespace arrakis
