#pragma once
// Loading a model from a folder: a Hugging Face checkpoint (config.json with a model_type + safetensors, sharded or
// not, or pytorch_model.bin), a TransformerLens-format folder, or a llama2.c checkpoint (a folder holding one, or the
// .bin file itself). The tokenizer in the same folder comes along.
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "arrakis/model/hooked_transformer.hpp"
#include "arrakis/model/weight_processing.hpp"

namespace arrakis {

struct LoadOptions {
  torch::Dtype dtype = torch::kFloat32;  // float32 or bfloat16 (also float16, float64)
  torch::Device device = torch::kCPU;
  bool load_tokenizer = true;   // look for tokenizer files in the same folder
  WeightProcessing processing;  // none by default: the weights as the checkpoint has them
};

/// Loads the model in `dir`. Throws arrakis::Error naming the folder and what is wrong: no config.json, an
/// unsupported model_type (listing the supported families), a missing tensor, a tensor of the wrong shape.
HookedTransformer load_pretrained(const std::filesystem::path& dir, const LoadOptions& options = {});

/// The Hugging Face families load_pretrained reads (by family name).
std::vector<std::string> supported_families();

}  // namespace arrakis
