#include "tokenizer/pre_tokenizers/metaspace_pre_tokenizer.hpp"

#include <fmt/format.h>

#include "tokenizer/utf8.hpp"

namespace arrakis::tok {

MetaspaceOptions metaspace_options_from_json(const Json& spec, const JsonPlace& place) {
  MetaspaceOptions options;
  options.replacement = as_string(require(spec, "replacement", place), place / "replacement");
  if (options.replacement.empty() || utf8_step(options.replacement, 0).length != options.replacement.size())
    (place / "replacement").fail(fmt::format("expected one character, found \"{}\"", options.replacement));

  const auto scheme = get_string(spec, "prepend_scheme", place);
  if (!scheme || *scheme == "always")
    options.prepend_scheme = PrependScheme::Always;
  else if (*scheme == "first")
    options.prepend_scheme = PrependScheme::First;
  else if (*scheme == "never")
    options.prepend_scheme = PrependScheme::Never;
  else
    (place / "prepend_scheme").fail(fmt::format("expected \"always\", \"first\" or \"never\", found \"{}\"", *scheme));
  // Files from before prepend_scheme existed say add_prefix_space; false means never.
  if (!get_bool(spec, "add_prefix_space", true, place)) {
    if (scheme && *scheme != "never")
      (place / "add_prefix_space").fail(fmt::format("false contradicts prepend_scheme \"{}\"", *scheme));
    options.prepend_scheme = PrependScheme::Never;
  }
  options.split = get_bool(spec, "split", true, place);
  return options;
}

void MetaspacePreTokenizer::split(std::string_view text, bool at_start, PieceSink emit) const {
  const std::string& mark = options_.replacement;
  std::string spelled;
  spelled.reserve(text.size() + 16);
  const bool prepend =
      options_.prepend_scheme == PrependScheme::Always || (options_.prepend_scheme == PrependScheme::First && at_start);
  if (prepend && !text.starts_with(' ') && !text.starts_with(mark)) spelled += mark;
  for (const char c : text) {
    if (c == ' ')
      spelled += mark;
    else
      spelled += c;
  }
  if (!options_.split) {
    emit(spelled, at_start);
    return;
  }
  // Cut before each mark: "▁Hey▁▁friend" -> "▁Hey" "▁" "▁friend".
  const std::string_view all = spelled;
  std::size_t begin = 0;
  for (std::size_t pos = all.find(mark, 1); pos != std::string_view::npos; pos = all.find(mark, pos + mark.size())) {
    emit(all.substr(begin, pos - begin), at_start && begin == 0);
    begin = pos;
  }
  if (begin < all.size()) emit(all.substr(begin), at_start && begin == 0);
}

}  // namespace arrakis::tok
