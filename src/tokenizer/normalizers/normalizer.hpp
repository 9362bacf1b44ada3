#pragma once
// Normalizers rewrite text before it is split (Hugging Face's Normalizer component: NFC, Lowercase, Replace,
// Prepend, ...). They run on each stretch of text between non-normalized added tokens.
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/formats/json_file.hpp"

namespace arrakis::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

/// Runs its normalizers in order ("type": "Sequence").
class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

/// The normalizer of a tokenizer.json ("normalizer": ...): nullptr for null (and for an empty Sequence); an
/// arrakis::Error naming the type and the file for a type not supported.
std::unique_ptr<Normalizer> make_normalizer(const Json& spec, const JsonPlace& place);

}  // namespace arrakis::tok
