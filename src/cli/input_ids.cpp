#include "cli/input_ids.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"

namespace arrakis::cli {

TokenInput parse_input_ids(const std::string& spec) {
  TokenInput input;
  // A file when it names one (a long id list is no file name: the error_code overload does not throw on it).
  std::error_code ec;
  if (spec.ends_with(".safetensors") || std::filesystem::exists(spec, ec)) {
    auto file = SafetensorsFile::open(spec);
    if (!file->contains("input_ids"))
      throw Error(fmt::format("{} holds no tensor 'input_ids' (it holds: {})", spec, fmt::join(file->names(), ", ")));
    auto ids = file->tensor("input_ids");
    if (ids.scalar_type() != torch::kInt64 || ids.dim() != 2)
      throw Error(fmt::format("{}: 'input_ids' must be int64 [batch, pos], got {} {}", spec,
                              c10::toString(ids.scalar_type()), ids.sizes().vec()));
    input.input_ids = ids.clone();
    if (file->contains("attention_mask")) {
      auto mask = file->tensor("attention_mask");
      if (mask.sizes() != ids.sizes())
        throw Error(fmt::format("{}: 'attention_mask' has shape {}, 'input_ids' {}: they must match", spec,
                                mask.sizes().vec(), ids.sizes().vec()));
      if (!mask.is_floating_point() && !mask.is_complex()) mask = mask.to(torch::kInt64);
      if (mask.is_complex() || !((mask == 0) | (mask == 1)).all().item<bool>())
        throw Error(fmt::format("{}: 'attention_mask' must hold only 0 (padding) and 1 (token)", spec));
      input.attention_mask = mask.to(torch::kInt64).clone();
    }
    return input;
  }
  std::vector<int64_t> ids;
  std::size_t start = 0;
  while (start <= spec.size()) {
    auto end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    auto item = spec.substr(start, end - start);
    try {
      std::size_t used = 0;
      ids.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw Error(
          fmt::format("--input-ids: '{}' is not an integer (give a comma-separated list such as 1,2,3 or a "
                      ".safetensors file holding input_ids)",
                      item));
    }
    start = end + 1;
  }
  input.input_ids = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  return input;
}

}  // namespace arrakis::cli
