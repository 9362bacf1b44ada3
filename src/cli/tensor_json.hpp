#pragma once
// Tensors as nested JSON arrays (numbers: floats as doubles, integers as integers), for `--json` output.
#include <torch/types.h>
#include <nlohmann/json.hpp>

namespace arrakis::cli {

inline nlohmann::json tensor_json(const torch::Tensor& tensor) {
  auto t = tensor.detach().to(torch::kCPU);
  if (t.dim() == 0) {
    if (t.is_floating_point()) return t.item<double>();
    if (t.scalar_type() == torch::kBool) return t.item<bool>();
    return t.item<int64_t>();
  }
  auto array = nlohmann::json::array();
  for (int64_t i = 0; i < t.size(0); ++i) array.push_back(tensor_json(t[i]));
  return array;
}

}  // namespace arrakis::cli
