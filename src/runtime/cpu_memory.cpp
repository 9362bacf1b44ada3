#include "arrakis/runtime/cpu_memory.hpp"

#include <sys/mman.h>
#include <torch/types.h>
#include <unistd.h>

#include <bit>
#include <cstdlib>
#include <list>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

#include "runtime/allocator_compat.hpp"

namespace arrakis {
namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kCachedBlock = std::size_t{64} << 10;  // below this, malloc (its bins reuse small chunks)
constexpr std::size_t kHugeBlock = std::size_t{4} << 20;     // from here, 2 MiB-aligned with huge pages advised
constexpr std::size_t kAlignment = 64;                       // what LibTorch's own CPU allocator guarantees

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Block sizes: whole huge pages from 4 MiB, else steps of an eighth of the size's power of two (at most 12.5%
// wasted), so that tensors of nearly the same size share blocks.
std::size_t block_size(std::size_t n) {
  if (n >= kHugeBlock) return round_up(n, kHugePage);
  return round_up(n, std::max(kCachedBlock, std::bit_floor(n) / 8));
}

int64_t default_cap() {
  if (const char* env = std::getenv("ARRAKIS_CPU_CACHE_MB"); env && *env) {
    char* end = nullptr;
    const long long mb = std::strtoll(env, &end, 10);
    if (end && *end == '\0' && mb >= 0) return static_cast<int64_t>(mb) << 20;
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  const int64_t ram = pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : (int64_t{4} << 30);
  return std::max<int64_t>(int64_t{1} << 30, ram / 4);
}

void* map_block(std::size_t size) {
  if (size < kHugeBlock) {
    void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return data == MAP_FAILED ? nullptr : data;
  }
  // Over-map by one huge page and trim, so the block starts on a 2 MiB boundary (a huge page can back it).
  const std::size_t span = size + kHugePage;
  void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const auto aligned = round_up(start, kHugePage);
  if (aligned > start) ::munmap(raw, aligned - start);
  const auto end = aligned + size;
  if (start + span > end) ::munmap(reinterpret_cast<void*>(end), start + span - end);
  ::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  static CachingCpuAllocator& instance() {
    static auto* allocator = new CachingCpuAllocator();  // never destroyed: tensors may outlive main()
    return *allocator;
  }

  // The context is the data pointer itself (LibTorch's raw_allocate/raw_deallocate require it), so one deleter
  // tells cached blocks (found in `blocks_`) from malloc'd ones.
  c10::DataPtr allocate(size_t n) ARRAKIS_ALLOCATE_CONST override {
    auto* self = const_cast<CachingCpuAllocator*>(this);
    void* data = nullptr;
    if (n < kCachedBlock) {
      if (::posix_memalign(&data, kAlignment, std::max<std::size_t>(n, 1)) != 0) throw std::bad_alloc();
    } else {
      data = self->take(block_size(n));
    }
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
#if ARRAKIS_ALLOCATOR_HAS_COPY_DATA
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#endif

  CpuCacheStats stats() {
    std::lock_guard lock(mutex_);
    return {in_use_, cached_, cap_, reused_, mapped_};
  }
  void release() {
    std::lock_guard lock(mutex_);
    while (!free_.empty()) evict_oldest();
  }

 private:
  struct Block {
    void* data;
    std::size_t size;
  };

  CachingCpuAllocator() : cap_(default_cap()) {}

  static void release(void* data) {
    if (!data) return;
    auto& self = instance();
    {
      std::lock_guard lock(self.mutex_);
      auto it = self.blocks_.find(data);
      if (it != self.blocks_.end()) {
        self.give_back(it->second);
        return;
      }
    }
    std::free(data);
  }

  // The smallest free block that fits without wasting more than a quarter of it; else fresh memory.
  void* take(std::size_t size) {
    {
      std::lock_guard lock(mutex_);
      auto it = by_size_.lower_bound(size);
      if (it != by_size_.end() && it->first <= size + size / 4) {
        Block* block = *it->second;
        free_.erase(it->second);
        by_size_.erase(it);
        cached_ -= static_cast<int64_t>(block->size);
        in_use_ += static_cast<int64_t>(block->size);
        ++reused_;
        return block->data;
      }
    }
    void* data = map_block(size);
    if (!data) {  // out of address space or memory: give the cache back and try once more
      release();
      data = map_block(size);
      if (!data) throw std::bad_alloc();
    }
    std::lock_guard lock(mutex_);
    in_use_ += static_cast<int64_t>(size);
    ++mapped_;
    blocks_.emplace(data, new Block{data, size});
    return data;
  }

  void give_back(Block* block) {  // mutex held
    in_use_ -= static_cast<int64_t>(block->size);
    if (static_cast<int64_t>(block->size) > cap_) {
      unmap(block);
      return;
    }
    while (cached_ + static_cast<int64_t>(block->size) > cap_ && !free_.empty()) evict_oldest();
    free_.push_back(block);
    by_size_.emplace(block->size, std::prev(free_.end()));
    cached_ += static_cast<int64_t>(block->size);
  }

  void evict_oldest() {  // mutex held
    Block* block = free_.front();
    for (auto it = by_size_.lower_bound(block->size); it != by_size_.end() && it->first == block->size; ++it)
      if (*it->second == block) {
        by_size_.erase(it);
        break;
      }
    free_.pop_front();
    cached_ -= static_cast<int64_t>(block->size);
    unmap(block);
  }

  void unmap(Block* block) {  // mutex held
    blocks_.erase(block->data);
    ::munmap(block->data, block->size);
    delete block;
  }

  std::mutex mutex_;
  std::list<Block*> free_;  // oldest freed first
  std::multimap<std::size_t, std::list<Block*>::iterator> by_size_;
  std::unordered_map<void*, Block*> blocks_;  // every mapped block, in use or free
  int64_t in_use_ = 0, cached_ = 0, cap_ = 0, reused_ = 0, mapped_ = 0;
};

std::once_flag installed_once;
bool installed = false;

}  // namespace

void install_cpu_caching_allocator() {
  std::call_once(installed_once, [] {
    // Priority 50: above LibTorch's default (0), below wrappers that install themselves over it (the profiler's).
    c10::SetAllocator(c10::DeviceType::CPU, &CachingCpuAllocator::instance(), 50);
    installed = true;
  });
}

bool cpu_caching_allocator_installed() { return installed; }

CpuCacheStats cpu_cache_stats() { return CachingCpuAllocator::instance().stats(); }

void release_cpu_cache() { CachingCpuAllocator::instance().release(); }

}  // namespace arrakis
