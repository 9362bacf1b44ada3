#pragma once
// Normalizers rewrite text before it is split (Hugging Face's Normalizer component: NFC, Lowercase, Replace,
// Prepend, ...). They run on each stretch of text between non-normalized added tokens.
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/formats/json_file.hpp"

namespace arrakis::tok {

/// How far normalizing may grow a text: 64 times its length plus 4 KiB, far beyond what real normalizers do (NFKD's
/// most expanding character gives 18 from 1). A tokenizer.json whose normalizers grow text further (a Sequence of
/// Replace "a" -> "aa", a megabyte Prepend) is refused while it runs, step by step, before memory runs out: every
/// normalizer make_normalizer returns is a SequenceNormalizer, which checks after each step.
inline constexpr std::size_t kMaxNormalizedGrowth = 64;
inline constexpr std::size_t kNormalizedSlack = 4096;

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

/// Runs its normalizers in order ("type": "Sequence").
class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  /// Runs the steps; arrakis::Error as soon as the text outgrows kMaxNormalizedGrowth.
  void normalize(std::string& text) const override;

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

/// The normalizer of a tokenizer.json ("normalizer": ...), always a SequenceNormalizer (so bounded): nullptr for null
/// (and for an empty Sequence); an arrakis::Error naming the type and the file for a type not supported.
std::unique_ptr<Normalizer> make_normalizer(const Json& spec, const JsonPlace& place);

}  // namespace arrakis::tok
