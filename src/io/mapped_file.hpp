#pragma once
// A file mapped into memory, shared by every tensor that views it (tensors keep it alive through their deleters).
#include <cstddef>
#include <filesystem>
#include <memory>

namespace arrakis {

class MappedFile {
 public:
  /// Maps the whole file MAP_PRIVATE with PROT_READ | PROT_WRITE: reads come from the page cache without a copy,
  /// and an in-place edit of a tensor viewing the mapping copies only the touched pages, never the file.
  /// Throws arrakis::Error naming the file when it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  std::byte* data() { return data_; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  /// Drops the resident pages that lie wholly inside [data, data + bytes), if the range is inside a live mapping:
  /// a loader that has copied (converted, re-laid-out) a tensor calls this so the file's copy stops counting
  /// against memory. Reading the range again later re-reads it from the file. Elsewhere it does nothing.
  static void release_pages(const void* data, std::size_t bytes);

 private:
  MappedFile(std::filesystem::path path, std::byte* data, std::size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::filesystem::path path_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace arrakis
