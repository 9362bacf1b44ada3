// Choosing the tokenizer format from the files in a folder. Formats are tried in order of preference: the most
// complete description first (tokenizer.json also carries the added tokens and the pipeline, and is what
// transformers' fast tokenizers use when a folder also has tokenizer.model). A new format is one more row in
// kFormats, or, for files found by a name pattern and their content, one more step like find_llama2c_tokenizer.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "arrakis/error.hpp"
#include "arrakis/tokenizer/tokenizer.hpp"
#include "tokenizer/formats/bpe_files.hpp"
#include "tokenizer/formats/llama2c_tokenizer.hpp"
#include "tokenizer/formats/sentencepiece_tokenizer.hpp"
#include "tokenizer/formats/tokenizer_json.hpp"

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
      {{"tokenizer.model"}, [](const fs::path& dir) { return tok::load_sentencepiece_model(dir / "tokenizer.model"); }},
      {{"vocab.json", "merges.txt"},
       [](const fs::path& dir) { return tok::load_bpe_files(dir / "vocab.json", dir / "merges.txt"); }},
      {{"encoder.json", "vocab.bpe"},
       [](const fs::path& dir) { return tok::load_bpe_files(dir / "encoder.json", dir / "vocab.bpe"); }},
  };
  return kFormats;
}

constexpr std::string_view kLlama2cNames = "tokenizer.bin or tok*.bin (llama2.c)";

// llama2.c's tokenizer: tokenizer.bin (which must parse), else the one tok*.bin file that parses as one (llama2.c
// names them e.g. tok512.bin; a folder also holds the model's own .bin, which never parses as a tokenizer).
std::optional<fs::path> find_llama2c_tokenizer(const fs::path& dir) {
  if (fs::is_regular_file(dir / "tokenizer.bin")) return dir / "tokenizer.bin";
  std::vector<fs::path> found;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.starts_with("tok") && name.ends_with(".bin") &&
        !tok::llama2c_tokenizer_problem(entry.path()))
      found.push_back(entry.path());
  }
  if (found.empty()) return std::nullopt;
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    std::string names;
    for (const fs::path& file : found)
      names += fmt::format("{}{}", names.empty() ? "" : ", ", file.filename().string());
    throw Error(fmt::format("{}: has several llama2.c tokenizer files ({}); keep one, or name it tokenizer.bin",
                            dir.string(), names));
  }
  return found.front();
}

std::string all_file_names() {
  std::string names;
  for (const Format& format : formats()) {
    if (!names.empty()) names += ", ";
    for (std::size_t i = 0; i < format.files.size(); ++i) names += fmt::format("{}{}", i ? " + " : "", format.files[i]);
  }
  return fmt::format("{}, {}", names, kLlama2cNames);
}

}  // namespace

std::shared_ptr<Tokenizer> try_load_tokenizer(const fs::path& dir) {
  if (!fs::is_directory(dir)) return nullptr;
  // A format with only some of its files is an error, unless a preferred format is complete. Anything by a file's
  // name counts as present, so that a FIFO or a folder named tokenizer.json is reported as such (by its reader)
  // rather than as a missing file.
  const Format* partial = nullptr;
  for (const Format& format : formats()) {
    std::size_t present = 0;
    for (const char* name : format.files) present += fs::exists(dir / name) ? 1 : 0;
    if (present == format.files.size()) return format.load(dir);
    if (present > 0 && !partial) partial = &format;
  }
  if (partial) {
    std::string present, missing;
    for (const char* name : partial->files) {
      std::string& list = fs::exists(dir / name) ? present : missing;
      list += fmt::format("{}{}", list.empty() ? "" : ", ", name);
    }
    throw Error(fmt::format("{}: has {} but not {}, which goes with it", dir.string(), present, missing));
  }
  if (const auto file = find_llama2c_tokenizer(dir)) return tok::load_llama2c_tokenizer(*file);
  return nullptr;
}

std::shared_ptr<Tokenizer> load_tokenizer(const fs::path& dir) {
  if (!fs::exists(dir)) throw Error(fmt::format("{}: no such folder (looking for a tokenizer)", dir.string()));
  if (!fs::is_directory(dir)) throw Error(fmt::format("{}: not a folder (looking for a tokenizer)", dir.string()));
  if (auto tokenizer = try_load_tokenizer(dir)) return tokenizer;
  throw Error(fmt::format("{}: no tokenizer files (looked for {})", dir.string(), all_file_names()));
}

}  // namespace arrakis
