#include "tokenizer/normalizers/replace.hpp"

namespace arrakis::tok {

Replacement replacement_from_json(const Json& spec, const JsonPlace& place) {
  Replacement replacement{pattern_from_json(require(spec, "pattern", place), place / "pattern"),
                          as_string(require(spec, "content", place), place / "content")};
  if (replacement.pattern.is_regex() && replacement.content.find('$') != std::string::npos)
    (place / "content").fail("group references (\"$...\") in the content of a regex Replace are not supported");
  return replacement;
}

void ReplaceNormalizer::normalize(std::string& text) const {
  text = replace_all(replacement_.pattern, text, replacement_.content);
}

void ReplaceDecoder::decode_chain(std::vector<std::string>& tokens) const {
  for (std::string& token : tokens) token = replace_all(replacement_.pattern, token, replacement_.content);
}

}  // namespace arrakis::tok
