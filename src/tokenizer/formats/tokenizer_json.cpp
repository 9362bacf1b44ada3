#include "tokenizer/formats/tokenizer_json.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "tokenizer/formats/json_file.hpp"
#include "tokenizer/formats/tokenizer_config.hpp"

namespace arrakis::tok {

namespace {

std::vector<AddedToken> read_added_tokens(const Json& root, const JsonPlace& file_place) {
  std::vector<AddedToken> tokens;
  const auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return tokens;
  const JsonPlace place = file_place / "added_tokens";
  if (!it->is_array()) place.fail(fmt::format("expected an array, found {}", json_type_name(*it)));
  for (std::size_t i = 0; i < it->size(); ++i) {
    const Json& entry = (*it)[i];
    const JsonPlace at = place[i];
    tokens.push_back(read_added_token(entry, as_token_id(require(entry, "id", at), at / "id"), at));
  }
  return tokens;
}

const Json& component(const Json& root, const char* key) {
  static const Json null_json;
  const auto it = root.find(key);
  return it == root.end() ? null_json : *it;
}

// Whether a pre-tokenizer or decoder spec is, or has in a Sequence, ByteLevel: then the tokens are byte-level
// spellings (for describe() and GPT-2's special-token defaults).
bool mentions_byte_level(const Json& spec) {
  if (!spec.is_object()) return false;
  if (const auto type = spec.find("type"); type != spec.end() && type->is_string() && *type == "ByteLevel") return true;
  for (const char* list : {"pretokenizers", "decoders"})
    if (const auto it = spec.find(list); it != spec.end() && it->is_array())
      for (const Json& item : *it)
        if (mentions_byte_level(item)) return true;
  return false;
}

std::shared_ptr<PipelineTokenizer> build(const Json& root, const std::filesystem::path& file) {
  const JsonPlace place(file);
  if (!root.is_object()) place.fail(fmt::format("expected an object, found {}", json_type_name(root)));

  Pipeline pipeline;
  pipeline.model = make_model(require(root, "model", place), place / "model");
  pipeline.normalizer = make_normalizer(component(root, "normalizer"), place / "normalizer");
  pipeline.pre_tokenizer = make_pre_tokenizer(component(root, "pre_tokenizer"), place / "pre_tokenizer");
  pipeline.decoder = make_decoder(component(root, "decoder"), place / "decoder");
  pipeline.added = AddedVocabulary(read_added_tokens(root, place), pipeline.normalizer.get());

  const bool byte_level =
      mentions_byte_level(component(root, "pre_tokenizer")) || mentions_byte_level(component(root, "decoder"));
  const bool byte_fallback = get_bool(require(root, "model", place), "byte_fallback", false, place / "model");
  std::string kind = fmt::format("{}{}{}", byte_level ? "byte-level " : "", pipeline.model->name(),
                                 byte_fallback ? " with byte fallback" : "");
  auto tokenizer = std::make_shared<PipelineTokenizer>(std::move(pipeline), std::move(kind), file);

  const TokenizerConfig config = read_tokenizer_config(file.parent_path());
  const auto gpt2_end_of_text = byte_level ? tokenizer->token_to_id("<|endoftext|>") : std::nullopt;
  tokenizer->set_special_tokens(resolve_special_tokens(config, *tokenizer, gpt2_end_of_text));
  return tokenizer;
}

}  // namespace

std::shared_ptr<PipelineTokenizer> load_tokenizer_json(const std::filesystem::path& file) {
  const Json root = read_json_file(file);
  try {
    return build(root, file);
  } catch (const Json::exception& e) {
    // Any shape the explicit checks did not foresee still names the file.
    throw Error(fmt::format("{}: unexpected content: {}", file.string(), e.what()));
  }
}

}  // namespace arrakis::tok
