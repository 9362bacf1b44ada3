#pragma once
// Prompt sets with per-prompt answers: what a logit-difference metric needs when every prompt has its own correct and
// wrong answer (the IOI walkthrough's "When Mary and John went to the store, John gave a drink to" → " Mary" over
// " John"), optionally with the corrupted prompt each is patched against. Stored as JSON Lines, one prompt per line:
//   {"prompt": "...", "correct": " Mary", "wrong": " John", "corrupted": "..."}
// Answers are the text of one token as the model's tokenizer spells it (" Mary" for GPT-2's BPE, "Mary" for a
// word-level vocabulary).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace arrakis {

struct AnsweredPrompt {
  std::string prompt, correct, wrong;
  std::optional<std::string> corrupted;
  nlohmann::json to_json() const;
};

struct PromptSet {
  std::vector<AnsweredPrompt> prompts;

  /// Reads JSON Lines (blank lines skipped); arrakis::Error naming the file, the line and the field at fault (a line
  /// that is not an object, a missing or non-string field, an empty answer, unknown fields). At most 1 000 000 prompts.
  static PromptSet read_jsonl(const std::filesystem::path& file);
  /// Writes JSON Lines atomically (a reader sees the old file or the new one).
  void write_jsonl(const std::filesystem::path& file) const;
  bool has_corrupted() const;  // every prompt has a corrupted prompt
};

}  // namespace arrakis
