#pragma once
// Reads a checkpoint's tensors for a family adapter: converts dtype and device, checks shapes, and afterwards
// reports tensors nobody read (a config that does not match its weights shows up there).
#include <torch/types.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "arrakis/io/checkpoint.hpp"

namespace arrakis {

class WeightReader {
 public:
  WeightReader(const Checkpoint& checkpoint, torch::Dtype dtype, torch::Device device);

  bool has(const std::string& name) const { return checkpoint_.contains(name); }
  /// The tensor `name` with shape `shape`; arrakis::Error naming the tensor and the checkpoint when it is missing
  /// or its shape differs (saying which config fields the expected shape comes from, via `why`).
  torch::Tensor take(const std::string& name, const std::vector<int64_t>& shape, const std::string& why = {});
  /// As take(), or an undefined tensor when absent.
  torch::Tensor take_if_present(const std::string& name, const std::vector<int64_t>& shape,
                                const std::string& why = {});
  /// Zeros for a bias the checkpoint does not have (the TransformerLens convention: every bias exists).
  torch::Tensor zeros(const std::vector<int64_t>& shape) const;
  /// arrakis::Error "checkpoint X: tensor 'name': what".
  [[noreturn]] void fail(const std::string& name, const std::string& what) const;
  torch::Dtype dtype() const { return dtype_; }
  torch::Device device() const { return device_; }
  /// Tells the reader a tensor it returned has been copied and is no longer needed, so the checkpoint's pages
  /// behind it can be dropped: loading then never holds two copies of the weights.
  void release(const torch::Tensor& source) const;
  /// Marks a tensor as deliberately unused (a buffer such as a causal-mask cache).
  void skip(const std::string& name) { used_.insert(name); }

  /// arrakis::Error listing tensors that were neither taken nor skipped, unless `ignorable(name)`.
  void check_all_used(const std::function<bool(const std::string&)>& ignorable = {}) const;
  const Checkpoint& checkpoint() const { return checkpoint_; }

 private:
  const Checkpoint& checkpoint_;
  torch::Dtype dtype_;
  torch::Device device_;
  std::set<std::string> used_;
};

}  // namespace arrakis
