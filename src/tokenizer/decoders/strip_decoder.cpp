#include "tokenizer/decoders/strip_decoder.hpp"

namespace arrakis::tok {

void StripDecoder::decode_chain(std::vector<std::string>& tokens) const {
  const std::string_view c = content_;
  for (std::string& token : tokens) {
    std::string_view kept = token;
    for (std::size_t i = 0; i < start_ && kept.starts_with(c); ++i) kept.remove_prefix(c.size());
    // The trailing side never takes back what the leading side removed (Hugging Face counts from what is left).
    for (std::size_t i = 0; i < stop_ && kept.ends_with(c); ++i) kept.remove_suffix(c.size());
    if (kept.size() != token.size()) token = std::string(kept);
  }
}

}  // namespace arrakis::tok
