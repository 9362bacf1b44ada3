#include "tokenizer/decoder.hpp"

#include <fmt/format.h>

#include "tokenizer/byte_level_decoder.hpp"

namespace arrakis::tok {

std::unique_ptr<Decoder> make_decoder(const Json& spec, const JsonPlace& place) {
  if (spec.is_null()) return nullptr;
  const std::string type = as_string(require(spec, "type", place), place / "type");
  // ByteLevel's add_prefix_space / trim_offsets / use_regex only matter for encoding and offsets.
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Sequence") {
    const Json& list = require(spec, "decoders", place);
    if (!list.is_array()) (place / "decoders").fail("expected an array");
    std::vector<std::unique_ptr<Decoder>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
      if (auto step = make_decoder(list[i], (place / "decoders")[i])) steps.push_back(std::move(step));
    if (steps.size() == 1) return std::move(steps.front());
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  (place / "type").fail(fmt::format("decoder type \"{}\" is not supported (supported: ByteLevel, Sequence)", type));
}

}  // namespace arrakis::tok
