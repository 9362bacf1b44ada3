#pragma once
// What each fuzz target does with its bytes: hand them to one parser of untrusted input, as a downloaded or shared
// file would reach it, then use what it returns (read every tensor, encode and decode text, list the store). The same
// entries run under libFuzzer (fuzz_target.cpp, built by scripts/fuzz.sh) and replay the committed inputs under
// tests/data/fuzz/<target>/ in the ordinary test suite.
//
// The contract each entry checks: the parser either succeeds or throws arrakis::Error (a message naming the file or
// field). Any other exception escapes (libFuzzer reports it as a crash, the replay test fails); memory errors,
// undefined behaviour, leaks, hangs and large allocations are caught by the sanitizers and libFuzzer's limits.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

namespace arrakis::fuzz {

struct FuzzEntry {
  std::string_view name;         // the target: fuzz/corpus/<name>, tests/data/fuzz/<name>, arrakis_fuzz_<name>
  std::string_view description;  // what it parses (docs/security.md lists them)
  void (*run)(std::span<const uint8_t> bytes);
  /// Writes seed inputs made by the project's own writers into `dir` (null when the seeds are files: scripts/fuzz.sh
  /// gathers those from tests/data, assets, node_modules and ../shared).
  void (*write_seeds)(const std::filesystem::path& dir) = nullptr;
};

const std::vector<FuzzEntry>& fuzz_entries();
/// The entry named `name`; std::invalid_argument listing the names otherwise.
const FuzzEntry& fuzz_entry(std::string_view name);

}  // namespace arrakis::fuzz
