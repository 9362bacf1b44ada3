#include "tokenizer/decoders/metaspace_decoder.hpp"

namespace arrakis::tok {

void MetaspaceDecoder::decode_chain(std::vector<std::string>& tokens) const {
  const std::string& mark = options_.replacement;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    std::string& token = tokens[i];
    if (token.find(mark) == std::string::npos) continue;
    const std::string_view space = i == 0 && options_.prepend_scheme != PrependScheme::Never ? "" : " ";
    std::string out;
    out.reserve(token.size());
    std::size_t done = 0;
    for (std::size_t pos = token.find(mark); pos != std::string::npos; pos = token.find(mark, done)) {
      out.append(token, done, pos - done);
      out += space;
      done = pos + mark.size();
    }
    out.append(token, done);
    token = std::move(out);
  }
}

}  // namespace arrakis::tok
