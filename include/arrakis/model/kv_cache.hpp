#pragma once
// Keys and values of the positions already processed, so a forward over new positions attends to them without
// recomputing them (generation; reusing a shared prefix).
#include <torch/types.h>

#include <vector>

namespace arrakis {

struct KeyValueCache {
  std::vector<torch::Tensor> keys;    // per layer [batch, kv_heads, past, d_head] (after rotary)
  std::vector<torch::Tensor> values;  // per layer [batch, kv_heads, past, d_head]
  torch::Tensor attention_mask;       // [batch, past] (1 = real token) — undefined when nothing was padded

  int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
  bool empty() const { return length() == 0; }
};

}  // namespace arrakis
