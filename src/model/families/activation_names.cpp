#include "model/families/activation_names.hpp"

#include <fmt/format.h>

namespace arrakis {

Activation activation_from_hf(const std::string& name, const ConfigJson& config, const std::string& key) {
  if (name == "relu") return Activation::Relu;
  if (name == "gelu") return Activation::Gelu;
  // gelu_new, gelu_fast and gelu_pytorch_tanh are all the tanh approximation (they differ only in rounding).
  if (name == "gelu_new" || name == "gelu_fast" || name == "gelu_pytorch_tanh") return Activation::GeluTanh;
  if (name == "silu" || name == "swish") return Activation::Silu;
  config.fail(
      fmt::format("'{}' = '{}' is not a supported activation (relu, gelu, gelu_new, gelu_fast, "
                  "gelu_pytorch_tanh, silu)",
                  key, name));
}

}  // namespace arrakis
