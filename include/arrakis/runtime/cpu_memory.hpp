#pragma once
// Large CPU tensors from a caching allocator. On this project's machines a first touch of fresh memory costs ~1.6 us
// per 4 KiB page, and glibc returns every allocation above 32 MB to the OS when it is freed, so each forward paid to
// page in its logits and activations anew (a GPT-2-small forward took 1.9 s instead of 0.9 s). Blocks of 64 KiB and
// more are instead mapped by this allocator (from 4 MiB 2 MiB-aligned, with transparent huge pages advised: fewer
// faults, fewer TLB misses) and kept when freed for the next tensor of a similar size, up to a cap; smaller ones stay
// with malloc.
#include <cstdint>

namespace arrakis {

struct CpuCacheStats {
  int64_t in_use_bytes = 0;        // blocks held by tensors now
  int64_t cached_bytes = 0;        // blocks freed and kept for reuse
  int64_t cap_bytes = 0;           // the most kept (ARRAKIS_CPU_CACHE_MB; default a quarter of RAM)
  int64_t reused = 0, mapped = 0;  // allocations served from the cache / by mapping fresh memory
};

/// Makes the caching allocator LibTorch's CPU allocator (idempotent; configure_runtime() calls it).
/// ARRAKIS_CPU_CACHE_MB=0 keeps no freed blocks (each is unmapped at once) but still maps with huge pages.
void install_cpu_caching_allocator();
bool cpu_caching_allocator_installed();
CpuCacheStats cpu_cache_stats();
/// Returns every cached block to the operating system (tensors in use are untouched).
void release_cpu_cache();

}  // namespace arrakis
