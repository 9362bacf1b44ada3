#pragma once
// Pre-tokenizers split text into the pieces ("words") that the model encodes one at a time, and may respell them
// (Hugging Face's PreTokenizer component: ByteLevel, Split, Metaspace, Digits, ...). A piece is handed on as soon
// as it is found, so a Sequence chains them without building lists: every Hugging Face pre-tokenizer acts on each
// piece independently, so this gives the same pieces as its list-of-splits form.
#include <memory>
#include <string_view>
#include <vector>

#include "tokenizer/formats/json_file.hpp"
#include "tokenizer/function_ref.hpp"

namespace arrakis::tok {

/// Receives each piece, and whether it begins the original text (Hugging Face's offsets_original().0 == 0, which
/// Metaspace's prepend_scheme "first" asks). A piece may live only during the call.
using PieceSink = FunctionRef<void(std::string_view piece, bool at_start)>;

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  /// Calls `emit` with each piece of `text` (non-empty), in order. `at_start`: `text` begins the original text.
  virtual void split(std::string_view text, bool at_start, PieceSink emit) const = 0;
};

/// Applies its pre-tokenizers in order, each to the pieces of the one before ("type": "Sequence").
class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void split(std::string_view text, bool at_start, PieceSink emit) const override {
    split_from(0, text, at_start, emit);
  }

 private:
  void split_from(std::size_t step, std::string_view text, bool at_start, PieceSink emit) const;
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

/// The pre-tokenizer of a tokenizer.json ("pre_tokenizer": ...): nullptr for null; an arrakis::Error naming the
/// type and the file for a type not supported.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& spec, const JsonPlace& place);

}  // namespace arrakis::tok
