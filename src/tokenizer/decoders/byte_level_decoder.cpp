#include "tokenizer/decoders/byte_level_decoder.hpp"

#include "tokenizer/byte_level.hpp"

namespace arrakis::tok {

void ByteLevelDecoder::decode_chain(std::vector<std::string>& tokens) const {
  std::string bytes;
  for (const std::string& token : tokens)
    if (!byte_level::append_bytes(bytes, token)) bytes += token;
  tokens.assign(1, std::move(bytes));
}

}  // namespace arrakis::tok
