#pragma once
// What every test file shares: where ../shared and the project's own test data are, and skipping without ../shared.
#include <gtest/gtest.h>
#include <torch/types.h>

#include "arrakis/error.hpp"
#include "tokenizer/formats/sentencepiece_library.hpp"
#include "util/json_text.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace arrakis::test {

/// The project root (set by CMake).
inline std::filesystem::path source_dir() { return ARRAKIS_SOURCE_DIR; }

/// ../shared beside the project root (or $ARRAKIS_SHARED_DIR); empty when absent. A folder without the shared
/// index (README.md) counts as absent, so `ARRAKIS_SHARED_DIR=$(mktemp -d)` runs the suite as a fresh clone would.
inline std::filesystem::path shared_dir() {
  std::filesystem::path dir = source_dir().parent_path() / "shared";
  if (const char* env = std::getenv("ARRAKIS_SHARED_DIR"); env && *env) dir = env;
  return std::filesystem::is_regular_file(dir / "README.md") ? dir : std::filesystem::path{};
}

/// A JSON file the test reads (a fixture, a written result).
inline nlohmann::json read_json(const std::filesystem::path& file) { return ::arrakis::read_json_file(file); }

/// Writes `bytes` as the whole of `file`.
inline void write_file(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary) << bytes;
}

/// `text` quoted and escaped as JSON, for messages about strings with spaces or control characters.
inline std::string shown(const std::string& text) { return nlohmann::json(text).dump(); }

/// A fresh empty temporary folder for one test.
inline std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("arrakis-test-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

struct CliResult {
  int status;          // the exit status (-1 when the command did not exit normally)
  std::string output;  // stdout, and stderr too unless `merge_stderr` is false
};

/// Runs the built `arrakis` command with `arguments` (shell syntax), as a user would.
inline CliResult run_cli(const std::string& arguments, bool merge_stderr = true) {
  std::string command = std::string(ARRAKIS_CLI_PATH) + " " + arguments + (merge_stderr ? " 2>&1" : " 2>/dev/null");
  CliResult result{-1, {}};
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
  int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

/// The process's peak resident memory so far (VmHWM), in bytes; 0 where /proc is absent.
inline long long peak_rss_bytes() {
  FILE* status = std::fopen("/proc/self/status", "r");
  if (!status) return 0;
  char line[256];
  long long kib = 0;
  while (std::fgets(line, sizeof line, status))
    if (std::sscanf(line, "VmHWM: %lld kB", &kib) == 1) break;
  std::fclose(status);
  return kib * 1024;
}

/// A file's bytes ("" when it cannot be read).
inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Whether `address` lies in a mapping of `file` (Linux /proc/self/maps): a tensor views the file, not a copy.
/// The figures of a page the html plot backend wrote, as the page's own JSON (what Plotly draws): [{"type", "data",
/// "layout"}, ...]; null when the page holds none.
inline nlohmann::json page_figures(const std::filesystem::path& page) {
  const auto html = read_bytes(page);
  const std::string open = "<script type=\"application/json\" id=\"arrakis-figures\">";
  auto start = html.find(open);
  if (start == std::string::npos) return {};
  start += open.size();
  return nlohmann::json::parse(html.substr(start, html.find("</script>", start) - start));
}

inline bool is_mapped_from(const void* address, const std::filesystem::path& file) {
  std::ifstream maps("/proc/self/maps");
  const auto target = std::filesystem::canonical(file).string();
  const auto where = reinterpret_cast<uintptr_t>(address);
  for (std::string line; std::getline(maps, line);) {
    std::istringstream fields(line);
    std::string range, perms, offset, device, inode, path;
    fields >> range >> perms >> offset >> device >> inode >> path;
    const auto dash = range.find('-');
    const auto begin = std::stoull(range.substr(0, dash), nullptr, 16);
    const auto end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (path == target && where >= begin && where < end) return true;
  }
  return false;
}

/// Largest absolute difference (as a double) of two tensors of the same shape.
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return INFINITY;
  if (a.numel() == 0) return 0.0;
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

/// The message of the arrakis::Error (or other std::exception) `fn` throws; "(no error)" when it throws none.
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

/// The message of the arrakis::Error `fn` throws; a test failure (and "") when it throws none.
template <class Fn>
std::string arrakis_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const ::arrakis::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an arrakis::Error";
  return {};
}

}  // namespace arrakis::test

/// Skips the current test with a clear message when ../shared is absent (a user's fresh clone has none;
/// .ci/run insists on it, so CI always runs these tests).
#define ARRAKIS_REQUIRE_SHARED()                                                                  \
  do {                                                                                            \
    if (::arrakis::test::shared_dir().empty())                                                    \
      GTEST_SKIP() << "../shared is absent (no reference fixtures beside the project): skipping"; \
  } while (0)

/// Skips the current test when this build reads no SentencePiece model (the sanitizer build, scripts/test.sh
/// --sanitize: AddressSanitizer refuses the RTLD_DEEPBIND its module needs), saying why.
#define ARRAKIS_REQUIRE_SENTENCEPIECE()                                                    \
  do {                                                                                     \
    if (const auto why = ::arrakis::tok::sentencepiece_unavailable_reason(); !why.empty()) \
      GTEST_SKIP() << why << ": skipping";                                                 \
  } while (0)
