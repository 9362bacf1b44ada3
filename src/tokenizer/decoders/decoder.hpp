#pragma once
// Decoders turn the tokens' spellings back into text (Hugging Face's Decoder component: ByteLevel, Metaspace,
// ByteFallback, Fuse, Strip, Replace, ...). Like Hugging Face's decode_chain, each rewrites the list of token
// strings and hands it to the next; the text is their concatenation.
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/formats/json_file.hpp"

namespace arrakis::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

/// Runs its decoders in order ("type": "Sequence").
class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

/// The decoder of a tokenizer.json ("decoder": ...): nullptr for null (tokens are then joined with spaces, as
/// Hugging Face does); an arrakis::Error naming the type and the file for a type not supported.
std::unique_ptr<Decoder> make_decoder(const Json& spec, const JsonPlace& place);

}  // namespace arrakis::tok
