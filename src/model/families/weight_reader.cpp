#include "model/families/weight_reader.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arrakis/error.hpp"
#include "io/mapped_file.hpp"

namespace arrakis {

WeightReader::WeightReader(const Checkpoint& checkpoint, torch::Dtype dtype, torch::Device device)
    : checkpoint_(checkpoint), dtype_(dtype), device_(device) {}

torch::Tensor WeightReader::take(const std::string& name, const std::vector<int64_t>& shape, const std::string& why) {
  auto t = checkpoint_.get(name);
  if (t.sizes().vec() != shape)
    throw Error(fmt::format("checkpoint {}: tensor '{}' has shape {} but the config needs {}{}", checkpoint_.describe(),
                            name, t.sizes().vec(), shape, why.empty() ? "" : " (" + why + ")"));
  if (!t.is_floating_point())
    throw Error(fmt::format("checkpoint {}: tensor '{}' has dtype {}, not a floating-point type",
                            checkpoint_.describe(), name, c10::toString(t.scalar_type())));
  used_.insert(name);
  // A view of the mapped file when dtype and device already match: nothing is copied. Otherwise the converted copy
  // is all that is kept, and the file's pages go.
  auto converted = t.to(device_, dtype_);
  if (!converted.is_same(t)) release(t);
  return converted;
}

void WeightReader::release(const torch::Tensor& source) const {
  if (source.device().is_cpu()) MappedFile::release_pages(source.data_ptr(), source.nbytes());
}

torch::Tensor WeightReader::take_if_present(const std::string& name, const std::vector<int64_t>& shape,
                                            const std::string& why) {
  return has(name) ? take(name, shape, why) : torch::Tensor();
}

torch::Tensor WeightReader::zeros(const std::vector<int64_t>& shape) const {
  return torch::zeros(shape, torch::TensorOptions().dtype(dtype_).device(device_));
}

void WeightReader::fail(const std::string& name, const std::string& what) const {
  throw Error(fmt::format("checkpoint {}: tensor '{}': {}", checkpoint_.describe(), name, what));
}

void WeightReader::check_all_used(const std::function<bool(const std::string&)>& ignorable) const {
  std::vector<std::string> unused;
  for (const auto& name : checkpoint_.names())
    if (!used_.count(name) && !(ignorable && ignorable(name))) unused.push_back(name);
  if (unused.empty()) return;
  if (unused.size() > 8) {
    auto more = unused.size() - 8;
    unused.resize(8);
    unused.push_back(fmt::format("... and {} more", more));
  }
  throw Error(
      fmt::format("checkpoint {} holds tensors this model's config has no place for: {} (does config.json "
                  "match the weights?)",
                  checkpoint_.describe(), fmt::join(unused, ", ")));
}

}  // namespace arrakis
