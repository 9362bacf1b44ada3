#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "arrakis/error.hpp"

namespace arrakis {
namespace {

// Live mappings, so release_pages() only ever touches memory that is a file mapping of ours.
std::mutex registry_mutex;
std::vector<const MappedFile*> registry;

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::filesystem::path& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; it is refused below as not a file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error("cannot open " + path.string() + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("cannot map " + path.string() + ": not a regular file");
  }
  auto size = static_cast<std::size_t>(st.st_size);
  std::byte* data = nullptr;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error("cannot map " + path.string() + ": " + std::strerror(err));
    }
    data = static_cast<std::byte*>(p);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  auto file = std::shared_ptr<MappedFile>(new MappedFile(path, data, size));
  std::lock_guard lock(registry_mutex);
  registry.push_back(file.get());
  return file;
}

MappedFile::~MappedFile() {
  {
    std::lock_guard lock(registry_mutex);
    std::erase(registry, this);
  }
  if (data_) ::munmap(data_, size_);
}

void MappedFile::release_pages(const void* data, std::size_t bytes) {
  const auto begin = reinterpret_cast<uintptr_t>(data), end = begin + bytes;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (last <= first) return;
  std::lock_guard lock(registry_mutex);
  for (const MappedFile* file : registry) {
    const auto start = reinterpret_cast<uintptr_t>(file->data_);
    if (begin >= start && end <= start + file->size_) {
      ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
      return;
    }
  }
}

}  // namespace arrakis
