#pragma once
// SentencePiece's way of keeping spaces (Hugging Face's Metaspace pre-tokenizer): every space becomes the
// replacement character "▁", a "▁" is put before the text as SentencePiece's dummy prefix (per prepend_scheme),
// and with `split` the text is cut before each "▁", so that each word keeps the "▁" it starts with.
//
// prepend_scheme: "always" (every piece that reaches it, e.g. each stretch between added tokens), "first" (only a
// piece that begins the original text: after an added token there is none, as in Llama 2's non-legacy files),
// "never". Older files write add_prefix_space (true: always, false: never) instead.
#include <string>

#include "tokenizer/pre_tokenizers/pre_tokenizer.hpp"

namespace arrakis::tok {

enum class PrependScheme { Always, First, Never };

struct MetaspaceOptions {
  std::string replacement = "\xE2\x96\x81";  // U+2581 "▁"
  PrependScheme prepend_scheme = PrependScheme::Always;
  bool split = true;
};

/// The fields of a Metaspace pre-tokenizer or decoder spec (replacement, prepend_scheme or add_prefix_space,
/// split); an arrakis::Error naming `place` for a bad value or a prepend_scheme that add_prefix_space contradicts.
MetaspaceOptions metaspace_options_from_json(const Json& spec, const JsonPlace& place);

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  explicit MetaspacePreTokenizer(MetaspaceOptions options) : options_(std::move(options)) {}
  void split(std::string_view text, bool at_start, PieceSink emit) const override;

 private:
  MetaspaceOptions options_;
};

}  // namespace arrakis::tok
