#pragma once
// Indirect-object-identification prompts (Wang et al. 2022, "Interpretability in the Wild"): a first clause naming two
// people, then one of them (the subject, S) doing something to — the model should name the other, the indirect
// object (IO). "ABBA" prompts name IO first ("When Mary and John went to the store, John gave a drink to" → Mary),
// "BABA" prompts name S first. Generated from templates, places, objects and single-token names, seeded, with the
// standard corruptions for patching.
#include <cstdint>
#include <string>
#include <vector>

#include "arrakis/analysis/prompt_set.hpp"

namespace arrakis {

enum class IoiCorruption {
  None,
  Flip,          // the walkthrough's: the second subject becomes IO, so the other name is now the answer
  ReplaceNames,  // both names replaced by two other names, consistently (the structure kept, the identities lost)
  Abc,           // the second subject replaced by a third name: nothing says which name is the indirect object
};
std::string ioi_corruption_name(IoiCorruption corruption);  // "none", "flip", "replace-names", "abc"
IoiCorruption parse_ioi_corruption(const std::string& name);

struct IoiPromptOptions {
  int64_t n_prompts = 64;
  uint64_t seed = 0;
  IoiCorruption corruption = IoiCorruption::Flip;
  /// Templates with {A} and {B} (the first clause's names, in order), {S} (the second mention of the subject),
  /// {PLACE} and {OBJECT}; each ends where the answer would come. Default: ioi_templates().
  std::vector<std::string> templates;
  std::vector<std::string> names, places, objects;  // defaults: ioi_names(), ioi_places(), ioi_objects()
  /// Written before each answer (" " for tokenizers whose words carry their leading space, as GPT-2's).
  std::string answer_prefix = " ";
};

/// One generated prompt with what it was made of.
struct IoiPrompt {
  AnsweredPrompt answered;  // correct = IO, wrong = S
  std::string io, s, place, object;
  int64_t template_index = 0;
  bool abba = true;  // IO named first
};

/// Each prompt's template, names, place and object drawn with the seed; ABBA and BABA alternate.
std::vector<IoiPrompt> generate_ioi_prompts(const IoiPromptOptions& options);
PromptSet ioi_prompt_set(const IoiPromptOptions& options);

const std::vector<std::string>& ioi_templates();
const std::vector<std::string>& ioi_names();
const std::vector<std::string>& ioi_places();
const std::vector<std::string>& ioi_objects();

}  // namespace arrakis
