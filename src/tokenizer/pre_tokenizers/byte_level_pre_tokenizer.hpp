#pragma once
// GPT-2's pre-tokenizer (Hugging Face's ByteLevel): optionally a space before the text, then GPT-2's regex split
// (contractions, letter runs, digit runs, punctuation runs, whitespace), then each piece respelled in byte-level
// characters so that the BPE vocabulary covers every byte.
#include "tokenizer/pre_tokenizers/pre_tokenizer.hpp"
#include "tokenizer/pre_tokenizers/regex.hpp"

namespace arrakis::tok {

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  /// GPT-2's split pattern, exactly as OpenAI's encoder.py and Hugging Face write it.
  static constexpr std::string_view kGpt2Pattern =
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

  /// add_prefix_space: a space is put before text that does not start with one (so the first word is spelled like
  /// the others), as Hugging Face does for each stretch of text between added tokens. use_regex: split with
  /// GPT-2's pattern (else the whole text is one piece).
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex);

  void split(std::string_view text, bool at_start, PieceSink emit) const override;

  /// The compiled GPT-2 pattern (compiled once per process).
  static const Regex& gpt2_regex();

 private:
  bool add_prefix_space_;
  bool use_regex_;
};

}  // namespace arrakis::tok
