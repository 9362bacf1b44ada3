#pragma once
// An attention head of a model, by layer and index: Head{1, 3}, written "L1H3" as TransformerLens and the
// literature do.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace arrakis {

struct ModelConfig;

struct Head {
  int layer = 0;
  int head = 0;

  std::string label() const;  // "L1H3"
  /// "L1H3" (or "1.3") -> Head{1, 3}; arrakis::Error naming the spelling otherwise.
  static Head parse(std::string_view text);
  /// arrakis::Error naming the head and the model's sizes when it is not one of its heads.
  void check(const ModelConfig& config) const;
  friend bool operator==(const Head&, const Head&) = default;
  friend auto operator<=>(const Head&, const Head&) = default;
};

void to_json(nlohmann::json& j, const Head& head);    // "L1H3"
void from_json(const nlohmann::json& j, Head& head);  // "L1H3", or {"layer": 1, "head": 3}

}  // namespace arrakis
