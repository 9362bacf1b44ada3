#pragma once
// Hugging Face's Split pre-tokenizer: the text is cut into the matches of a pattern and the stretches between them,
// then `behavior` says what becomes of the matches (the delimiters):
//   Removed             dropped                            "a, b" / ", " -> "a" "b"
//   Isolated            pieces of their own                -> "a" ", " "b"
//   MergedWithPrevious  joined to the piece before         -> "a, " "b"
//   MergedWithNext      joined to the piece after          -> "a" ", b"
//   Contiguous          adjacent matches joined together   (as Isolated, but ",,," is one piece, not three)
// With `invert` the pattern matches the pieces to keep and what lies between them is the delimiter.
// Digits, Punctuation, Whitespace and WhitespaceSplit are this with a fixed pattern (see make_pre_tokenizer).
#include "tokenizer/pre_tokenizers/pattern.hpp"
#include "tokenizer/pre_tokenizers/pre_tokenizer.hpp"

namespace arrakis::tok {

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

/// "Removed", "Isolated", ... as tokenizer.json writes them; an arrakis::Error naming `place` otherwise.
SplitBehavior split_behavior_from_json(const Json& value, const JsonPlace& place);

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}

  void split(std::string_view text, bool at_start, PieceSink emit) const override;

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

}  // namespace arrakis::tok
