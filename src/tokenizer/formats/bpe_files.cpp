#include "tokenizer/formats/bpe_files.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "arrakis/error.hpp"
#include "tokenizer/decoders/byte_level_decoder.hpp"
#include "tokenizer/formats/json_file.hpp"
#include "tokenizer/formats/tokenizer_config.hpp"
#include "tokenizer/pre_tokenizers/byte_level_pre_tokenizer.hpp"

namespace arrakis::tok {

Vocabulary read_vocab_json(const std::filesystem::path& file) {
  return vocabulary_from_json(read_json_file(file), JsonPlace(file));
}

std::vector<MergeRule> read_merges_txt(const std::filesystem::path& file) {
  const std::string text = read_text_file(file);
  std::vector<MergeRule> merges;
  merges.reserve(text.size() / 10);
  std::size_t line_number = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty() || (line_number == 1 && line.starts_with("#version"))) continue;
    const auto space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos)
      throw Error(fmt::format("{}: line {}: expected two tokens separated by one space, found \"{}\"", file.string(),
                              line_number, line));
    merges.emplace_back(std::string(line.substr(0, space)), std::string(line.substr(space + 1)));
  }
  return merges;
}

std::shared_ptr<PipelineTokenizer> load_bpe_files(const std::filesystem::path& vocab_file,
                                                  const std::filesystem::path& merges_file) {
  const TokenizerConfig config = read_tokenizer_config(vocab_file.parent_path());

  Pipeline pipeline;
  pipeline.model = std::make_unique<BpeModel>(read_vocab_json(vocab_file), read_merges_txt(merges_file), BpeOptions{},
                                              merges_file.string());
  pipeline.pre_tokenizer = std::make_unique<ByteLevelPreTokenizer>(config.add_prefix_space.value_or(false), true);
  pipeline.decoder = std::make_unique<ByteLevelDecoder>();

  // The tokens the config files name become added (special) tokens, as transformers does.
  std::vector<AddedToken> added = config.added_tokens;
  for (const auto* mention : {&config.bos, &config.eos, &config.pad, &config.unk}) {
    if (!*mention || !(*mention)->content) continue;
    const std::string& content = *(*mention)->content;
    const bool listed =
        std::any_of(added.begin(), added.end(), [&](const AddedToken& t) { return t.content == content; });
    if (listed) {
      for (AddedToken& t : added)
        if (t.content == content) t.special = true;
      continue;
    }
    const auto id = pipeline.model->token_to_id(content);
    if (!id)
      throw Error(fmt::format("{}: special token \"{}\" is not in the vocabulary {}", (*mention)->file.string(),
                              content, vocab_file.string()));
    added.push_back(AddedToken{.id = *id, .content = content, .normalized = false, .special = true});
  }
  pipeline.added = AddedVocabulary(std::move(added), nullptr);

  auto tokenizer = std::make_shared<PipelineTokenizer>(std::move(pipeline), "byte-level BPE",
                                                       vocab_file.string() + " + " + merges_file.filename().string());
  tokenizer->set_special_tokens(resolve_special_tokens(config, *tokenizer, tokenizer->token_to_id("<|endoftext|>")));
  return tokenizer;
}

}  // namespace arrakis::tok
