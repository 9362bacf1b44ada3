#include "tokenizer/formats/tokenizer_config.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>

#include "arrakis/error.hpp"
#include "tokenizer/formats/json_file.hpp"

namespace arrakis::tok {

namespace {

// A special token is written as "text", as {"content": "text", ...} (transformers' AddedToken) or as null.
SpecialTokenMention read_mention(const Json& value, const JsonPlace& place) {
  if (value.is_null()) return {std::nullopt, place.file()};
  if (value.is_string()) return {value.get<std::string>(), place.file()};
  if (value.is_object()) return {as_string(require(value, "content", place), place / "content"), place.file()};
  place.fail(
      fmt::format("expected a token string, an object with \"content\", or null; found {}", json_type_name(value)));
}

void read_special_tokens(const Json& json, const JsonPlace& place, TokenizerConfig& config) {
  if (!json.is_object()) place.fail(fmt::format("expected an object, found {}", json_type_name(json)));
  const std::array<std::pair<const char*, std::optional<SpecialTokenMention>*>, 4> roles = {
      {{"bos_token", &config.bos}, {"eos_token", &config.eos}, {"pad_token", &config.pad}, {"unk_token", &config.unk}}};
  for (const auto& [key, slot] : roles)
    if (const auto it = json.find(key); it != json.end()) *slot = read_mention(*it, place / key);
}

}  // namespace

AddedToken read_added_token(const Json& value, std::int64_t id, const JsonPlace& place) {
  if (!value.is_object()) place.fail(fmt::format("expected an object, found {}", json_type_name(value)));
  AddedToken token;
  token.id = id;
  token.content = as_string(require(value, "content", place), place / "content");
  token.special = get_bool(value, "special", false, place);
  token.single_word = get_bool(value, "single_word", false, place);
  token.lstrip = get_bool(value, "lstrip", false, place);
  token.rstrip = get_bool(value, "rstrip", false, place);
  token.normalized = get_bool(value, "normalized", !token.special, place);
  return token;
}

TokenizerConfig read_tokenizer_config(const std::filesystem::path& dir) {
  TokenizerConfig config;

  if (const auto file = dir / "tokenizer_config.json"; std::filesystem::is_regular_file(file)) {
    const Json json = read_json_file(file);
    const JsonPlace place(file);
    read_special_tokens(json, place, config);
    if (const auto it = json.find("add_prefix_space"); it != json.end() && !it->is_null())
      config.add_prefix_space = get_bool(json, "add_prefix_space", false, place);
    if (const auto it = json.find("added_tokens_decoder"); it != json.end() && !it->is_null()) {
      const JsonPlace at = place / "added_tokens_decoder";
      if (!it->is_object()) at.fail("expected an object of id: token");
      for (const auto& [key, value] : it->items()) {
        std::int64_t id = -1;
        const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), id);
        if (error != std::errc{} || end != key.data() + key.size() || id < 0)
          at.fail(fmt::format("\"{}\" is not a token id", key));
        config.added_tokens.push_back(read_added_token(value, id, at / key));
      }
    }
  }

  if (const auto file = dir / "special_tokens_map.json"; std::filesystem::is_regular_file(file))
    read_special_tokens(read_json_file(file), JsonPlace(file), config);

  if (const auto file = dir / "added_tokens.json"; std::filesystem::is_regular_file(file)) {
    const Json json = read_json_file(file);
    const JsonPlace place(file);
    if (!json.is_object()) place.fail("expected an object of token: id");
    for (const auto& [content, id] : json.items()) {
      AddedToken token;
      token.id = as_token_id(id, place / fmt::format("\"{}\"", content));
      token.content = content;
      config.added_tokens.push_back(std::move(token));
    }
  }
  return config;
}

SpecialTokens resolve_special_tokens(const TokenizerConfig& config, const Tokenizer& tokenizer,
                                     std::optional<std::int64_t> default_id) {
  const auto resolve = [&](const std::optional<SpecialTokenMention>& mention,
                           const char* role) -> std::optional<std::int64_t> {
    if (!mention) return default_id;
    if (!mention->content) return std::nullopt;
    const auto id = tokenizer.token_to_id(*mention->content);
    if (!id)
      throw Error(fmt::format("{}: {} \"{}\" is not in the vocabulary ({})", mention->file.string(), role,
                              *mention->content, tokenizer.describe()));
    return id;
  };
  SpecialTokens special;
  special.bos = resolve(config.bos, "bos_token");
  special.eos = resolve(config.eos, "eos_token");
  special.pad = resolve(config.pad, "pad_token");
  special.unk = resolve(config.unk, "unk_token");
  return special;
}

}  // namespace arrakis::tok
