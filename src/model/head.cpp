#include "arrakis/model/head.hpp"

#include <fmt/format.h>

#include <charconv>

#include "arrakis/error.hpp"
#include "arrakis/model/config.hpp"

namespace arrakis {
namespace {

bool read_int(std::string_view text, int& value) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size() && value >= 0;
}

}  // namespace

std::string Head::label() const { return fmt::format("L{}H{}", layer, head); }

Head Head::parse(std::string_view text) {
  Head h;
  bool ok = false;
  if (text.size() >= 4 && (text[0] == 'L' || text[0] == 'l')) {
    const auto at = text.find_first_of("Hh");
    ok = at != std::string_view::npos && read_int(text.substr(1, at - 1), h.layer) &&
         read_int(text.substr(at + 1), h.head);
  } else if (const auto dot = text.find('.'); dot != std::string_view::npos) {
    ok = read_int(text.substr(0, dot), h.layer) && read_int(text.substr(dot + 1), h.head);
  }
  if (!ok) throw Error(fmt::format("'{}' is not a head: write L<layer>H<head> (e.g. L1H3) or <layer>.<head>", text));
  return h;
}

void Head::check(const ModelConfig& config) const {
  if (layer < 0 || layer >= config.n_layers || head < 0 || head >= config.n_heads)
    throw Error(
        fmt::format("head {} is not in the model ({} layers of {} heads)", label(), config.n_layers, config.n_heads));
}

void to_json(nlohmann::json& j, const Head& head) { j = head.label(); }

void from_json(const nlohmann::json& j, Head& head) {
  if (j.is_string())
    head = Head::parse(j.get<std::string>());
  else if (j.is_object() && j.contains("layer") && j.contains("head"))
    head = Head{j.at("layer").get<int>(), j.at("head").get<int>()};
  else
    throw Error(fmt::format("{} is not a head (\"L1H3\" or {{\"layer\": 1, \"head\": 3}})", j.dump()));
}

}  // namespace arrakis
