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
/// Replace "a" -> "aa", a megabyte Prepend) is refused while it runs, step by step, before memory runs out.
inline constexpr std::size_t kMaxNormalizedGrowth = 64;
inline constexpr std::size_t kNormalizedSlack = 4096;
/// arrakis::Error when normalizing grew a text of `before` bytes to `after`.
void check_normalized_growth(std::size_t before, std::size_t after);

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
    const std::size_t before = text.size();
    for (const auto& step : steps_) {
      step->normalize(text);
      check_normalized_growth(before, text.size());
    }
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

/// The normalizer of a tokenizer.json ("normalizer": ...): nullptr for null (and for an empty Sequence); an
/// arrakis::Error naming the type and the file for a type not supported.
std::unique_ptr<Normalizer> make_normalizer(const Json& spec, const JsonPlace& place);

}  // namespace arrakis::tok
