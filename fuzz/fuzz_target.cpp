// One libFuzzer target: the entry ARRAKIS_FUZZ_TARGET names (fuzz_entries.cpp), compiled once per target so that each
// has its own coverage map and corpus. arrakis::Error is the expected answer to bad bytes; anything else escapes.
#include <torch/utils.h>

#include <cstdlib>
#include <filesystem>

#include "arrakis/error.hpp"
#include "fuzz_entries.hpp"

// ARRAKIS_FUZZ_WRITE_SEEDS=DIR: write this target's generated seeds into DIR and exit (scripts/fuzz.sh does).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);  // one core per fuzzer: the machine runs them side by side with builds
  if (const char* dir = std::getenv("ARRAKIS_FUZZ_WRITE_SEEDS")) {
    const arrakis::fuzz::FuzzEntry& entry = arrakis::fuzz::fuzz_entry(ARRAKIS_FUZZ_TARGET);
    std::filesystem::create_directories(dir);
    if (entry.write_seeds) entry.write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const arrakis::fuzz::FuzzEntry& entry = arrakis::fuzz::fuzz_entry(ARRAKIS_FUZZ_TARGET);
  try {
    entry.run({data, size});
  } catch (const arrakis::Error&) {
  }
  return 0;
}
