#pragma once
// Reading token ids from the command line: "1,2,3" (one sequence) or a safetensors file holding int64 `input_ids`
// [batch, pos] (and optionally `attention_mask`). Apart from the options that take it (token_input.hpp), so that the
// fuzz targets (fuzz/) can parse a spec without the model.
#include <torch/types.h>

#include <string>

namespace arrakis::cli {

struct TokenInput {
  torch::Tensor input_ids;       // [batch, pos] int64
  torch::Tensor attention_mask;  // undefined when there is no padding
};

/// arrakis::Error naming the file, tensor or list item at fault.
TokenInput parse_input_ids(const std::string& spec);

}  // namespace arrakis::cli
