#include "model/families/model_family.hpp"

#include <fmt/format.h>

#include "arrakis/error.hpp"

namespace arrakis {

// The registry: each family is one file under src/model/families/ defining its function, listed here once.
ModelFamily gpt2_family();
ModelFamily gpt_neo_family();
ModelFamily gpt_neox_family();
ModelFamily llama_family();
ModelFamily gemma_family();
ModelFamily phi3_family();
ModelFamily qwen2_family();
ModelFamily mistral_family();
ModelFamily stablelm_family();

const std::vector<ModelFamily>& model_families() {
  static const std::vector<ModelFamily> families = {gpt2_family(),  gpt_neo_family(), gpt_neox_family(),
                                                    llama_family(), gemma_family(),   phi3_family(),
                                                    qwen2_family(), mistral_family(), stablelm_family()};
  return families;
}

int64_t rotary_dims_from_fraction(const ConfigJson& j, const std::string& key, double fallback, int64_t d_head) {
  const double fraction = j.get_double(key, fallback);
  if (!(fraction > 0 && fraction <= 1)) j.fail(fmt::format("'{}' is {}; it must be in (0, 1]", key, fraction));
  const auto dims = static_cast<int64_t>(fraction * static_cast<double>(d_head));
  if (dims < 1) j.fail(fmt::format("'{}' {} of a {}-dimension head rotates no dimension", key, fraction, d_head));
  return dims;
}

const ModelFamily& family_for_model_type(const std::string& model_type, const std::string& source) {
  std::string supported;
  for (const auto& family : model_families()) {
    for (const auto& type : family.model_types)
      if (type == model_type) return family;
    if (family.name == model_type) return family;
    supported += (supported.empty() ? "" : ", ") + family.name;
  }
  throw Error(
      fmt::format("{}: model_type '{}' is not a supported family (supported: {}; or a TransformerLens-format "
                  "config.json)",
                  source, model_type, supported));
}

}  // namespace arrakis
