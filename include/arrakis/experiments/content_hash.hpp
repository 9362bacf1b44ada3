#pragma once
// Content hashes (SHA-256, lower-case hex): an experiment version is the hash of its source, a stored tensor is
// named by the hash of its dtype, shape and bytes, and a model is identified by the hash of its weights.
#include <torch/types.h>

#include <span>
#include <string>
#include <string_view>

namespace arrakis {

class HookedTransformer;

/// Incremental SHA-256 (OpenSSL's libcrypto), for hashing data that arrives in pieces.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(std::span<const std::byte> bytes);
  Sha256& update(std::string_view text);
  /// The digest as 64 lower-case hex digits; the object cannot be updated afterwards.
  std::string hex();

 private:
  void* context_;  // EVP_MD_CTX*, kept opaque so users do not see OpenSSL's headers
  bool finished_ = false;
};

std::string sha256_hex(std::string_view text);

/// Hash of a tensor's dtype, shape and values (contiguous, on the CPU): equal tensors hash equal whatever their
/// strides or device.
std::string tensor_content_hash(const torch::Tensor& tensor);

/// Hash of every parameter of the model (names, dtypes, shapes, values), in the order of named_parameters().
std::string weight_fingerprint(const HookedTransformer& model);

}  // namespace arrakis
