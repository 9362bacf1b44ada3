// Choosing the tokenizer format from the files in a folder. Formats are tried in order of preference: the most
// complete description first (tokenizer.json also carries the added tokens and the pipeline). A new format is one
// more row in kFormats.
#include <fmt/format.h>

#include <functional>
#include <vector>

#include "arrakis/error.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "tokenizer/bpe_files.hpp"
#include "tokenizer/tokenizer_json.hpp"

namespace arrakis {

namespace {

namespace fs = std::filesystem;

struct Format {
  std::vector<const char*> files;  // all required; any one present claims the folder for this format
  std::function<std::shared_ptr<Tokenizer>(const fs::path& dir)> load;
};

const std::vector<Format>& formats() {
  static const std::vector<Format> kFormats = {
      {{"tokenizer.json"}, [](const fs::path& dir) { return tok::load_tokenizer_json(dir / "tokenizer.json"); }},
      {{"vocab.json", "merges.txt"},
       [](const fs::path& dir) { return tok::load_bpe_files(dir / "vocab.json", dir / "merges.txt"); }},
      {{"encoder.json", "vocab.bpe"},
       [](const fs::path& dir) { return tok::load_bpe_files(dir / "encoder.json", dir / "vocab.bpe"); }},
  };
  return kFormats;
}

std::string all_file_names() {
  std::string names;
  for (const Format& format : formats()) {
    if (!names.empty()) names += ", ";
    for (std::size_t i = 0; i < format.files.size(); ++i) names += fmt::format("{}{}", i ? " + " : "", format.files[i]);
  }
  return names;
}

}  // namespace

std::shared_ptr<Tokenizer> try_load_tokenizer(const fs::path& dir) {
  if (!fs::is_directory(dir)) return nullptr;
  // A format with only some of its files is an error, unless a preferred format is complete.
  const Format* partial = nullptr;
  for (const Format& format : formats()) {
    std::size_t present = 0;
    for (const char* name : format.files) present += fs::is_regular_file(dir / name) ? 1 : 0;
    if (present == format.files.size()) return format.load(dir);
    if (present > 0 && !partial) partial = &format;
  }
  if (partial) {
    std::string present, missing;
    for (const char* name : partial->files) {
      std::string& list = fs::is_regular_file(dir / name) ? present : missing;
      list += fmt::format("{}{}", list.empty() ? "" : ", ", name);
    }
    throw Error(fmt::format("{}: has {} but not {}, which goes with it", dir.string(), present, missing));
  }
  return nullptr;
}

std::shared_ptr<Tokenizer> load_tokenizer(const fs::path& dir) {
  if (!fs::exists(dir)) throw Error(fmt::format("{}: no such folder (looking for a tokenizer)", dir.string()));
  if (!fs::is_directory(dir)) throw Error(fmt::format("{}: not a folder (looking for a tokenizer)", dir.string()));
  if (auto tokenizer = try_load_tokenizer(dir)) return tokenizer;
  throw Error(fmt::format("{}: no tokenizer files (looked for {})", dir.string(), all_file_names()));
}

}  // namespace arrakis
