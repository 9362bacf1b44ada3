#include "tokenizer/pipeline_tokenizer.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "arrakis/error.hpp"
#include "tokenizer/utf8.hpp"

namespace arrakis::tok {

PipelineTokenizer::PipelineTokenizer(Pipeline pipeline, std::string kind, std::filesystem::path source)
    : pipeline_(std::move(pipeline)),
      kind_(std::move(kind)),
      source_(std::move(source)),
      vocab_size_(std::max(pipeline_.model->id_end(), pipeline_.added.id_end())) {}

std::vector<std::int64_t> PipelineTokenizer::encode(std::string_view text) const {
  std::vector<std::int64_t> ids;
  ids.reserve(text.size() / 3 + 4);  // ~4 bytes per token in English text; a guess, not a limit
  if (pipeline_.added.matches_in(AddedVocabulary::Pass::Raw))
    pipeline_.added.split(
        text, AddedVocabulary::Pass::Raw,
        [&](std::string_view stretch) { encode_stretch(stretch, stretch.data() == text.data(), ids); },
        [&](std::int64_t id) { ids.push_back(id); });
  else
    encode_stretch(text, true, ids);
  return ids;
}

// A stretch of raw text between non-normalized added tokens: normalize it, then look for the normalized ones.
void PipelineTokenizer::encode_stretch(std::string_view text, bool at_start, std::vector<std::int64_t>& ids) const {
  std::string normalized;
  if (pipeline_.normalizer) {
    normalized.assign(text);
    pipeline_.normalizer->normalize(normalized);
    text = normalized;
  }
  if (pipeline_.added.matches_in(AddedVocabulary::Pass::Normalized))
    pipeline_.added.split(
        text, AddedVocabulary::Pass::Normalized,
        [&](std::string_view stretch) { encode_normalized(stretch, at_start && stretch.data() == text.data(), ids); },
        [&](std::int64_t id) { ids.push_back(id); });
  else
    encode_normalized(text, at_start, ids);
}

void PipelineTokenizer::encode_normalized(std::string_view text, bool at_start, std::vector<std::int64_t>& ids) const {
  if (text.empty()) return;  // Hugging Face drops empty stretches before pre-tokenizing (no lone prefix space)
  const Model& model = *pipeline_.model;
  if (!pipeline_.pre_tokenizer) {
    model.encode_word(text, ids);
    return;
  }
  pipeline_.pre_tokenizer->split(text, at_start, [&](std::string_view piece, bool) {
    if (!piece.empty()) model.encode_word(piece, ids);
  });
}

const std::string* PipelineTokenizer::spelling(std::int64_t id) const {
  if (const std::string* added = pipeline_.added.id_to_token(id)) return added;
  return pipeline_.model->id_to_token(id);
}

void PipelineTokenizer::throw_unknown_id(std::int64_t id) const {
  throw Error(fmt::format("token id {} is not in the vocabulary of {} tokens ({})", id, vocab_size_, describe()));
}

std::string PipelineTokenizer::decode(std::span<const std::int64_t> ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const std::int64_t id : ids) {
    const std::string* token = spelling(id);
    if (!token) throw_unknown_id(id);
    if (skip_special && pipeline_.added.is_special(id)) continue;
    tokens.push_back(*token);
  }
  std::string text;
  if (pipeline_.decoder) {
    pipeline_.decoder->decode_chain(tokens);
    for (const std::string& part : tokens) text += part;
  } else {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i) text += ' ';
      text += tokens[i];
    }
  }
  // A token can hold part of a character (byte-level BPE splits multi-byte characters); like Hugging Face and
  // OpenAI, return valid UTF-8 with U+FFFD for what does not form a character.
  return to_valid_utf8(std::move(text));
}

std::optional<std::int64_t> PipelineTokenizer::token_to_id(std::string_view token) const {
  if (const auto id = pipeline_.added.token_to_id(token)) return id;
  return pipeline_.model->token_to_id(token);
}

std::string PipelineTokenizer::id_to_token(std::int64_t id) const {
  const std::string* token = spelling(id);
  if (!token) throw_unknown_id(id);
  return *token;
}

std::string PipelineTokenizer::describe() const {
  return fmt::format("{} ({} tokens) from {}", kind_, vocab_size_, source_.string());
}

}  // namespace arrakis::tok
