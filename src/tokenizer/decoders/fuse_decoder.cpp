#include "tokenizer/decoders/fuse_decoder.hpp"

namespace arrakis::tok {

void FuseDecoder::decode_chain(std::vector<std::string>& tokens) const {
  std::size_t size = 0;
  for (const std::string& token : tokens) size += token.size();
  std::string joined;
  joined.reserve(size);
  for (const std::string& token : tokens) joined += token;
  tokens.assign(1, std::move(joined));
}

}  // namespace arrakis::tok
