#pragma once
// Loading a model from a folder: a Hugging Face checkpoint (config.json with a model_type + safetensors, sharded or
// not, or pytorch_model.bin) or a TransformerLens-format folder. The tokenizer in the same folder comes along.
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

struct LoadOptions {
  torch::Dtype dtype = torch::kFloat32;   // float32 or bfloat16 (also float16, float64)
  torch::Device device = torch::kCPU;
  bool load_tokenizer = true;             // look for tokenizer files in the same folder
};

/// Loads the model in `dir`. Throws arrakis::Error naming the folder and what is wrong: no config.json, an
/// unsupported model_type (listing the supported families), a missing tensor, a tensor of the wrong shape.
HookedTransformer load_pretrained(const std::filesystem::path& dir, const LoadOptions& options = {});

/// The Hugging Face families load_pretrained reads (by family name).
std::vector<std::string> supported_families();

}  // namespace arrakis
