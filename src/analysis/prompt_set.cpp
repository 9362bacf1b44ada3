#include "arrakis/analysis/prompt_set.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"
#include "util/read_file.hpp"
#include "util/write_file.hpp"

namespace arrakis {

nlohmann::json AnsweredPrompt::to_json() const {
  nlohmann::json out = {{"prompt", prompt}, {"correct", correct}, {"wrong", wrong}};
  if (corrupted) out["corrupted"] = *corrupted;
  return out;
}

PromptSet PromptSet::read_jsonl(const std::filesystem::path& file) {
  constexpr std::size_t kMaxPrompts = 1'000'000;
  const std::string text = read_text_file(file);
  PromptSet set;
  std::size_t start = 0, line_number = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const auto where = fmt::format("{}:{}", file.string(), line_number);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: not valid JSON: {}", where, e.what()));
    }
    if (!j.is_object()) throw Error(fmt::format("{}: a prompt is a JSON object, not {}", where, j.type_name()));
    for (const auto& [key, value] : j.items())
      if (key != "prompt" && key != "correct" && key != "wrong" && key != "corrupted")
        throw Error(fmt::format("{}: unknown field '{}' (fields: prompt, correct, wrong, corrupted)", where, key));
    auto field = [&](const char* name) {
      if (!j.contains(name)) throw Error(fmt::format("{}: field '{}' is missing", where, name));
      if (!j[name].is_string()) throw Error(fmt::format("{}: field '{}' is not a string", where, name));
      auto value = j[name].get<std::string>();
      if (value.empty()) throw Error(fmt::format("{}: field '{}' is empty", where, name));
      return value;
    };
    AnsweredPrompt p{field("prompt"), field("correct"), field("wrong"), std::nullopt};
    if (j.contains("corrupted")) p.corrupted = field("corrupted");
    if (p.correct == p.wrong)
      throw Error(fmt::format("{}: the correct and wrong answers are both \"{}\"", where, p.correct));
    if (set.prompts.size() >= kMaxPrompts)
      throw Error(fmt::format("{}: more than {} prompts", file.string(), kMaxPrompts));
    set.prompts.push_back(std::move(p));
  }
  if (set.prompts.empty()) throw Error(fmt::format("{}: holds no prompts", file.string()));
  return set;
}

void PromptSet::write_jsonl(const std::filesystem::path& file) const {
  std::string text;
  for (const auto& p : prompts) text += p.to_json().dump() + "\n";
  write_file_atomically(file, text);
}

bool PromptSet::has_corrupted() const {
  for (const auto& p : prompts)
    if (!p.corrupted) return false;
  return !prompts.empty();
}

}  // namespace arrakis
