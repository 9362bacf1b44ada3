#include "arrakis/experiments/content_hash.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/evp.h>

#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/hooked_transformer.hpp"

namespace arrakis {

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  if (!context_ || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(context_), EVP_sha256(), nullptr) != 1)
    throw Error("SHA-256: OpenSSL could not start a digest");
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context_)); }

Sha256& Sha256::update(std::span<const std::byte> bytes) {
  if (finished_) throw Error("SHA-256: update after hex()");
  if (!bytes.empty()) EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(context_), bytes.data(), bytes.size());
  return *this;
}

Sha256& Sha256::update(std::string_view text) { return update(std::as_bytes(std::span(text.data(), text.size()))); }

std::string Sha256::hex() {
  if (finished_) throw Error("SHA-256: hex() called twice");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(context_), digest, &size);
  finished_ = true;
  std::string out;
  out.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

std::string sha256_hex(std::string_view text) { return Sha256().update(text).hex(); }

namespace {

void hash_tensor_into(Sha256& sha, const torch::Tensor& tensor) {
  auto cpu = tensor.detach().to(torch::kCPU).contiguous();
  // dtype and shape first, so that equal bytes of different types or shapes hash differently.
  sha.update(fmt::format("{}[{}]:", safetensors_dtype_name(cpu.scalar_type()), fmt::join(cpu.sizes(), ",")));
  sha.update(std::span(static_cast<const std::byte*>(cpu.data_ptr()), cpu.nbytes()));
}

}  // namespace

std::string tensor_content_hash(const torch::Tensor& tensor) {
  if (!tensor.defined()) throw Error("tensor_content_hash: the tensor is undefined");
  Sha256 sha;
  hash_tensor_into(sha, tensor);
  return sha.hex();
}

std::string weight_fingerprint(const HookedTransformer& model) {
  Sha256 sha;
  for (const auto& [name, tensor] : model.weights().named_parameters(model.config())) {
    sha.update(name);
    sha.update(std::string_view("\n"));
    hash_tensor_into(sha, tensor);
  }
  return sha.hex();
}

}  // namespace arrakis
