#include "tokenizer/decoders/decoder.hpp"

#include <fmt/format.h>

#include "tokenizer/decoders/byte_fallback_decoder.hpp"
#include "tokenizer/decoders/byte_level_decoder.hpp"
#include "tokenizer/decoders/fuse_decoder.hpp"
#include "tokenizer/decoders/metaspace_decoder.hpp"
#include "tokenizer/decoders/strip_decoder.hpp"
#include "tokenizer/normalizers/replace.hpp"
#include "tokenizer/utf8.hpp"

namespace arrakis::tok {

namespace {

std::size_t count_from_json(const Json& spec, const char* key, const JsonPlace& place) {
  const auto it = spec.find(key);
  if (it == spec.end() || it->is_null()) return 0;
  if (!it->is_number_unsigned()) (place / key).fail(fmt::format("expected a count, found {}", it->dump()));
  return it->get<std::size_t>();
}

std::unique_ptr<Decoder> strip_from_json(const Json& spec, const JsonPlace& place) {
  std::string content = as_string(require(spec, "content", place), place / "content");
  if (content.empty() || utf8_step(content, 0).length != content.size())
    (place / "content").fail(fmt::format("expected one character, found \"{}\"", content));
  return std::make_unique<StripDecoder>(std::move(content), count_from_json(spec, "start", place),
                                        count_from_json(spec, "stop", place));
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Json& spec, const JsonPlace& place) {
  if (spec.is_null()) return nullptr;
  const std::string type = as_string(require(spec, "type", place), place / "type");
  // ByteLevel's add_prefix_space / trim_offsets / use_regex only matter for encoding and offsets.
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") return strip_from_json(spec, place);
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(replacement_from_json(spec, place));
  if (type == "Metaspace") return std::make_unique<MetaspaceDecoder>(metaspace_options_from_json(spec, place));
  if (type == "Sequence") {
    const Json& list = require(spec, "decoders", place);
    if (!list.is_array()) (place / "decoders").fail("expected an array");
    std::vector<std::unique_ptr<Decoder>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
      if (auto step = make_decoder(list[i], (place / "decoders")[i])) steps.push_back(std::move(step));
    if (steps.size() == 1) return std::move(steps.front());
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  (place / "type")
      .fail(fmt::format("decoder type \"{}\" is not supported (supported: ByteLevel, ByteFallback, Fuse, Strip, "
                        "Replace, Metaspace, Sequence)",
                        type));
}

}  // namespace arrakis::tok
