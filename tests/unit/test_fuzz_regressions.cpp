// The fuzz targets' regression inputs (tests/data/fuzz/<target>/: each once crashed, leaked or threw something other
// than arrakis::Error under scripts/fuzz.sh) replayed through the same entries the fuzzers call
// (fuzz/fuzz_entries.cpp). Here without sanitizers; `scripts/fuzz.sh --replay` (run by scripts/test.sh) replays them
// under ASan and UBSan.
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "arrakis/error.hpp"
#include "fuzz_entries.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = ARRAKIS_SOURCE_DIR;

TEST(FuzzRegressions, TheBuildsTargetsAreExactlyTheEntries) {
  std::ifstream in(kSource / "fuzz" / "targets.txt");
  std::set<std::string> listed;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) listed.insert(line);
  std::set<std::string> entries;
  for (const fuzz::FuzzEntry& entry : fuzz::fuzz_entries()) entries.insert(std::string(entry.name));
  EXPECT_EQ(listed, entries) << "fuzz/targets.txt and fuzz/fuzz_entries.cpp list different targets";
}

TEST(FuzzRegressions, EveryCommittedInputIsALoadOrAClearError) {
  int replayed = 0;
  for (const fuzz::FuzzEntry& entry : fuzz::fuzz_entries()) {
    const fs::path dir = kSource / "tests" / "data" / "fuzz" / entry.name;
    if (!fs::is_directory(dir)) continue;
    for (const fs::directory_entry& file : fs::directory_iterator(dir)) {
      const std::string bytes = test::read_bytes(file.path());
      try {
        entry.run({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
      } catch (const Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << file.path().string() << ": threw a " << typeid(e).name()
                      << " instead of arrakis::Error: " << e.what();
      }
      ++replayed;
    }
  }
  EXPECT_GT(replayed, 0) << "no regression inputs under tests/data/fuzz";
}

}  // namespace
}  // namespace arrakis
