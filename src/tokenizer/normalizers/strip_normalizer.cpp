#include "tokenizer/normalizers/strip_normalizer.hpp"

#include <unicode/uchar.h>

#include "tokenizer/utf8.hpp"

namespace arrakis::tok {

namespace {

bool is_white_space(std::string_view text, std::size_t begin, std::size_t length) {
  const Utf8Step step = utf8_step(text.substr(begin, length), 0);
  return step.valid && step.length == length && u_isUWhiteSpace(static_cast<UChar32>(step.code_point));
}

}  // namespace

void StripNormalizer::normalize(std::string& text) const {
  std::size_t begin = 0;
  std::size_t end = text.size();
  if (left_)
    while (begin < end) {
      const std::size_t length = utf8_step(text, begin).length;
      if (!is_white_space(text, begin, length)) break;
      begin += length;
    }
  if (right_)
    while (end > begin) {
      const std::size_t start = utf8_previous(text, end);
      if (!is_white_space(text, start, end - start)) break;
      end = start;
    }
  if (begin > 0 || end < text.size()) text = text.substr(begin, end - begin);
}

}  // namespace arrakis::tok
