#include "tokenizer/models/model.hpp"

#include <fmt/format.h>

#include "tokenizer/models/bpe_model.hpp"
#include "tokenizer/models/word_level_model.hpp"

namespace arrakis::tok {

namespace {

// Merges are "a b" strings in older files and ["a", "b"] pairs in newer ones (which allow spaces in tokens).
std::vector<MergeRule> merges_from_json(const Json& merges, const JsonPlace& place) {
  if (!merges.is_array()) place.fail(fmt::format("expected an array of merges, found {}", json_type_name(merges)));
  std::vector<MergeRule> result;
  result.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const Json& merge = merges[i];
    const JsonPlace at = place[i];
    if (merge.is_string()) {
      const auto& text = merge.get_ref<const std::string&>();
      const auto space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
        at.fail(fmt::format("expected two tokens separated by one space, found \"{}\"", text));
      result.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2) {
      result.emplace_back(as_string(merge[0], at[0]), as_string(merge[1], at[1]));
    } else {
      at.fail(fmt::format("expected \"a b\" or [\"a\", \"b\"], found {}", merge.dump()));
    }
  }
  return result;
}

std::unique_ptr<Model> bpe_from_json(const Json& spec, const JsonPlace& place) {
  if (const auto it = spec.find("dropout"); it != spec.end() && !it->is_null()) {
    if (!it->is_number()) (place / "dropout").fail("expected a number or null");
    if (it->get<double>() != 0.0)
      (place / "dropout")
          .fail(fmt::format("BPE dropout {} is not supported (it samples merges at random, for training only)",
                            it->dump()));
  }
  BpeOptions options;
  options.unk_token = get_string(spec, "unk_token", place);
  options.fuse_unk = get_bool(spec, "fuse_unk", false, place);
  options.byte_fallback = get_bool(spec, "byte_fallback", false, place);
  options.ignore_merges = get_bool(spec, "ignore_merges", false, place);
  options.continuing_subword_prefix = get_string(spec, "continuing_subword_prefix", place).value_or("");
  options.end_of_word_suffix = get_string(spec, "end_of_word_suffix", place).value_or("");

  Vocabulary vocab = vocabulary_from_json(require(spec, "vocab", place), place / "vocab");
  const auto merges_it = spec.find("merges");
  const std::vector<MergeRule> merges = merges_it == spec.end() || merges_it->is_null()
                                            ? std::vector<MergeRule>{}
                                            : merges_from_json(*merges_it, place / "merges");
  return std::make_unique<BpeModel>(std::move(vocab), merges, std::move(options), (place / "merges").describe());
}

}  // namespace

std::unique_ptr<Model> make_model(const Json& spec, const JsonPlace& place) {
  if (!spec.is_object()) place.fail(fmt::format("expected an object, found {}", json_type_name(spec)));
  // Hugging Face writes "type"; files from before it did are recognised by their fields.
  std::string type = get_string(spec, "type", place).value_or(spec.contains("merges") ? "BPE" : "");
  if (type == "BPE") return bpe_from_json(spec, place);
  if (type == "WordLevel")  // Hugging Face's default unknown token for WordLevel is "<unk>"
    return std::make_unique<WordLevelModel>(vocabulary_from_json(require(spec, "vocab", place), place / "vocab"),
                                            get_string(spec, "unk_token", place).value_or("<unk>"));
  (place / "type")
      .fail(fmt::format("model type \"{}\" is not supported (supported: BPE, WordLevel)",
                        type.empty() ? "(none)" : type));
}

}  // namespace arrakis::tok
